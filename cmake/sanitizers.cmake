# STAMPEDE_SANITIZE=address builds everything with ASan + UBSan,
# STAMPEDE_SANITIZE=thread with TSan. The runtime annotates its fiber
# switches for both (see runtime/src/fiber.cpp), which is what makes stack
# switching legible to them.
if(STAMPEDE_SANITIZE STREQUAL "address")
    add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                        -fno-sanitize-recover=undefined)
    add_link_options(-fsanitize=address,undefined)
    add_compile_definitions(STAMPEDE_ASAN=1)
elseif(STAMPEDE_SANITIZE STREQUAL "thread")
    add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
    add_link_options(-fsanitize=thread)
    add_compile_definitions(STAMPEDE_TSAN=1)
elseif(NOT STAMPEDE_SANITIZE STREQUAL "")
    message(FATAL_ERROR "STAMPEDE_SANITIZE must be '', 'address' or 'thread', not '${STAMPEDE_SANITIZE}'")
endif()
if(NOT STAMPEDE_SANITIZE STREQUAL "" AND CMAKE_BUILD_TYPE STREQUAL "Release")
    # Keep optimisation but make reports readable.
    add_compile_options(-g)
endif()

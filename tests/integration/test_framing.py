"""Framing through the real broker (STOMP12.md items 1-7): line ends per
version, frame ends and heart-beat EOLs, case-sensitive commands and header
names, escaping per version (none on CONNECT), bodies only where allowed,
content-length with NULs in the body, and the first of repeated headers."""

import unittest

from integ import BrokerCase, frame, unique


class FramingTest(BrokerCase):
    # Virtual host names with backslashes show that CONNECT is never unescaped.
    config = {"virtual_hosts": ["/", "we\\cird", "tab\\there"]}

    def pair(self, version="1.2", subscriber_version="1.2", kind="queue"):
        """A subscriber (on a fresh destination) and a publisher connection."""
        destination = "/%s/%s" % (kind, unique("framing"))
        sub = self.connected(subscriber_version)
        sub.subscribe(destination, id="s")
        pub = self.connected(version)
        return destination, pub, sub

    # ---- item 1: EOL is LF or CR LF in 1.2, LF only in 1.0 and 1.1 ----

    def test_a_1_2_frame_may_end_its_lines_with_cr_lf(self):
        destination, pub, sub = self.pair()
        pub.send_raw(("SEND\r\ndestination:%s\r\nx-eol:crlf\r\nreceipt:r1\r\n\r\nbody\0"
                      % destination).encode())
        pub.expect("RECEIPT", {"receipt-id": "r1"})
        message = sub.expect("MESSAGE")
        self.assertEqual(message.get("x-eol"), "crlf")  # no CR left in the value
        self.assertEqual(message.body, b"body")

    def test_a_1_2_frame_may_mix_lf_and_cr_lf_line_ends(self):
        destination, pub, sub = self.pair()
        pub.send_raw(("SEND\ndestination:%s\r\nx-a:1\nx-b:2\r\n\nmixed\0" % destination).encode())
        message = sub.expect("MESSAGE")
        self.assertEqual((message.get("x-a"), message.get("x-b"), message.body),
                         ("1", "2", b"mixed"))

    def test_a_lone_cr_in_a_1_2_header_is_an_invalid_line_end(self):
        c = self.connected("1.2")
        c.send_raw(b"SEND\ndestination:/queue/x\nx-cr:a\rb\n\nbody\0")
        self.assert_error(c, "end of line")
        self.assert_bystander_fine()

    def test_a_cr_in_a_1_1_header_is_an_ordinary_octet_of_the_value(self):
        destination, pub, sub = self.pair(version="1.1")
        pub.send_raw(("SEND\ndestination:%s\nx-cr:a\rb\nx-end:v\r\nreceipt:r\n\nbody\0"
                      % destination).encode())
        pub.expect("RECEIPT", {"receipt-id": "r"})
        message = sub.expect("MESSAGE")  # a 1.2 subscriber gets the CRs escaped as \r
        self.assertEqual(message.get("x-cr"), "a\rb")
        self.assertEqual(message.get("x-end"), "v\r")

    def test_a_1_1_command_line_ending_in_cr_lf_is_an_unknown_command(self):
        c = self.connected("1.1")
        c.send_raw(b"SEND\r\ndestination:/queue/x\n\nbody\0")
        self.assert_error(c, "unknown command")
        self.assert_bystander_fine()

    def test_a_1_0_command_line_ending_in_cr_lf_is_an_unknown_command(self):
        c = self.connected("1.0")
        c.send_raw(b"SEND\r\ndestination:/queue/x\n\nbody\0")
        self.assert_error(c, "unknown command")
        self.assert_bystander_fine()

    def test_connect_may_use_cr_lf_whatever_version_it_asks_for(self):
        for version in ("1.0", "1.1", "1.2"):
            with self.subTest(version=version):
                c = self.client()
                c.send_raw(("CONNECT\r\naccept-version:%s\r\nhost:/\r\n\r\n\0" % version).encode())
                self.assertEqual(c.expect("CONNECTED").get("version"), version)
                c.version = version
                self.round_trip(c)

    # ---- item 2: NUL ends a frame; EOLs after it are skipped ----

    def test_eols_after_a_frames_nul_are_skipped(self):
        destination, pub, sub = self.pair()
        data = b""
        for i, tail in enumerate([b"", b"\n", b"\n\n\n", b"\r\n", b"\r\n\n\r\n"]):
            data += frame("SEND", {"destination": destination, "receipt": "r%d" % i},
                          "m%d" % i) + tail
        pub.send_raw(data)
        for i in range(5):
            pub.expect("RECEIPT", {"receipt-id": "r%d" % i})
            self.assertEqual(sub.expect("MESSAGE").body, b"m%d" % i)
        self.round_trip(pub)

    def test_eols_before_the_first_frame_are_skipped(self):
        c = self.client()
        c.send_raw(b"\n\r\n\n" + frame("CONNECT", {"accept-version": "1.2", "host": "/"}))
        c.expect("CONNECTED")
        self.round_trip(c)

    # ---- item 3: commands and header names are case-sensitive ----

    def test_a_lower_case_command_is_an_unknown_command(self):
        for command in (b"send", b"Send", b"SENd", b"subscribe", b"disconnect"):
            with self.subTest(command=command):
                c = self.connected()
                c.send_raw(command + b"\ndestination:/queue/x\n\n\0")
                self.assert_error(c, "unknown command")
        self.assert_bystander_fine()

    def test_a_lower_case_connect_is_an_unknown_command(self):
        c = self.client()
        c.send_raw(b"connect\naccept-version:1.2\nhost:/\n\n\0")
        self.assert_error(c, "unknown command")

    def test_an_unknown_command_is_an_error(self):
        c = self.connected()
        c.send_raw(b"PUBLISH\ndestination:/queue/x\n\nbody\0")
        self.assert_error(c, "unknown command")
        self.assert_bystander_fine()

    def test_header_names_are_case_sensitive(self):
        c = self.connected()
        c.send_raw(b"SEND\nDestination:/queue/x\nreceipt:r\n\nbody\0")
        self.assert_error(c, "destination", receipt_id="r")
        destination, pub, sub = self.pair()
        pub.send_frame("SEND", [("destination", destination), ("X-Case", "upper"),
                                ("x-case", "lower")], "b")
        message = sub.expect("MESSAGE")
        self.assertEqual((message.get("X-Case"), message.get("x-case")), ("upper", "lower"))

    # ---- item 4: escaping per version, none on CONNECT, no trimming ----

    def test_1_2_escapes_round_trip_in_names_and_values(self):
        for kind in ("queue", "topic"):
            with self.subTest(kind=kind):
                destination, pub, sub = self.pair(kind=kind)
                value = "colon:newline\ncr\rbackslash\\end"
                pub.send_frame("SEND", [("destination", destination), ("x-esc", value),
                                        ("we:ird\nname", "v"), ("receipt", "r")], "b")
                pub.expect("RECEIPT", {"receipt-id": "r"})
                message = sub.expect("MESSAGE")
                self.assertEqual(message.get("x-esc"), value)
                self.assertEqual(message.get("we:ird\nname"), "v")

    def test_1_2_escapes_arrive_as_each_subscribers_version_writes_them(self):
        destination = "/topic/" + unique("esc")
        subs = {}
        for version in ("1.0", "1.1", "1.2"):
            subs[version] = self.connected(version)
            subs[version].subscribe(destination, id="s-" + version)
        pub = self.connected("1.2")
        pub.send_frame("SEND", [("destination", destination), ("x-esc", "a:b\\c\nd"),
                                ("receipt", "r")], "b")
        pub.expect("RECEIPT", {"receipt-id": "r"})
        self.assertEqual(subs["1.2"].expect("MESSAGE").get("x-esc"), "a:b\\c\nd")
        self.assertEqual(subs["1.1"].expect("MESSAGE").get("x-esc"), "a:b\\c\nd")
        # 1.0 has no escapes: a newline cannot be written, the colon needs none.
        self.assertEqual(subs["1.0"].expect("MESSAGE").get("x-esc"), "a:b\\c d")

    def test_an_undefined_escape_is_an_error_in_1_2(self):
        for raw in (b"a\\tb", b"a\\", b"\\x", b"a\\Nb"):
            with self.subTest(value=raw):
                c = self.connected("1.2")
                c.send_raw(b"SEND\ndestination:/queue/x\nx-bad:" + raw + b"\nreceipt:r\n\nb\0")
                self.assert_error(c, "escape")
        self.assert_bystander_fine()

    def test_r_is_an_undefined_escape_in_1_1(self):
        c = self.connected("1.1")
        c.send_raw(b"SEND\ndestination:/queue/x\nx-bad:a\\rb\n\nb\0")
        self.assert_error(c, "escape")
        destination, pub, sub = self.pair(version="1.1")
        pub.send_raw(("SEND\ndestination:%s\nx-ok:a\\nb\\cc\\\\d\n\nb\0" % destination).encode())
        self.assertEqual(sub.expect("MESSAGE").get("x-ok"), "a\nb:c\\d")

    def test_1_0_has_no_escapes_a_backslash_is_a_backslash(self):
        destination, pub, sub = self.pair(version="1.0")
        pub.send_raw(("SEND\ndestination:%s\nx-raw:a\\nb\\tc\\\nreceipt:r\n\nb\0"
                      % destination).encode())
        pub.expect("RECEIPT", {"receipt-id": "r"})
        self.assertEqual(sub.expect("MESSAGE").get("x-raw"), "a\\nb\\tc\\")

    def test_connect_headers_are_never_unescaped(self):
        # "we\cird" would unescape to "we:ird" and "tab\there" is no escape at
        # all: both are virtual hosts by their raw names.
        for host in ("we\\cird", "tab\\there"):
            with self.subTest(host=host):
                c = self.client()
                c.send_raw(b"CONNECT\naccept-version:1.2\nhost:" + host.encode() + b"\n\n\0")
                c.expect("CONNECTED")
                self.round_trip(c)
        c = self.client()
        c.send_raw(b"CONNECT\naccept-version:1.2\nhost:we:ird\n\n\0")
        self.assert_error(c, "virtual host")

    def test_stomp_headers_are_never_unescaped(self):
        c = self.client()
        c.send_raw(b"STOMP\naccept-version:1.2\nhost:tab\\there\n\n\0")
        c.expect("CONNECTED")

    def test_header_names_and_values_are_never_trimmed(self):
        destination, pub, sub = self.pair()
        pub.send_raw(("SEND\ndestination:%s\nx-pad:  spaced  \n x-lead: v\nx-tab:\tt\t\n\nb\0"
                      % destination).encode())
        message = sub.expect("MESSAGE")
        self.assertEqual(message.get("x-pad"), "  spaced  ")
        self.assertEqual(message.get(" x-lead"), " v")
        self.assertEqual(message.get("x-tab"), "\tt\t")

    def test_a_destination_with_a_trailing_blank_is_another_destination(self):
        destination, pub, sub = self.pair()
        pub.send_raw(("SEND\ndestination:%s \nreceipt:r\n\nb\0" % destination).encode())
        pub.expect("RECEIPT", {"receipt-id": "r"})
        self.expect_marker(sub, destination, publisher=pub)

    # ---- item 5: only SEND (MESSAGE, ERROR) carry a body ----

    def test_a_body_on_a_frame_that_carries_none_is_an_error(self):
        cases = [
            b"SUBSCRIBE\ndestination:/queue/x\nid:1\n\nbody\0",
            b"SUBSCRIBE\ndestination:/queue/x\nid:1\ncontent-length:4\n\nbody\0",
            b"BEGIN\ntransaction:t\n\nx\0",
            b"DISCONNECT\nreceipt:r\n\nbye\0",
            b"UNSUBSCRIBE\nid:1\ncontent-length:1\n\n\0\0",
        ]
        for raw in cases:
            with self.subTest(frame=raw):
                c = self.connected()
                c.send_raw(raw)
                self.assert_error(c, "body")
        self.assert_bystander_fine()

    def test_a_body_on_connect_is_an_error(self):
        c = self.client()
        c.send_raw(b"CONNECT\naccept-version:1.2\nhost:/\n\nhello\0")
        self.assert_error(c, "body")

    def test_frames_without_a_body_may_say_content_length_0(self):
        c = self.connected()
        destination = "/queue/" + unique("cl0")
        c.send_raw(("SUBSCRIBE\ndestination:%s\nid:s\ncontent-length:0\nreceipt:r\n\n\0"
                    % destination).encode())
        c.expect("RECEIPT", {"receipt-id": "r"})
        c.send_raw(("SEND\ndestination:%s\ncontent-length:0\n\n\0" % destination).encode())
        message = c.expect("MESSAGE")
        self.assertEqual(message.body, b"")

    # ---- item 6: content-length ----

    def test_content_length_carries_nuls_in_the_body(self):
        for kind in ("queue", "topic"):
            with self.subTest(kind=kind):
                destination, pub, sub = self.pair(kind=kind)
                body = b"\0a\0\0b\0" + bytes(range(256)) + b"\0"
                pub.send_frame("SEND", {"destination": destination}, body)
                message = sub.expect("MESSAGE")
                self.assertEqual(message.body, body)
                self.assertEqual(message.get("content-length"), str(len(body)))

    def test_without_content_length_the_body_ends_at_the_first_nul(self):
        destination, pub, sub = self.pair()
        pub.send_raw(("SEND\ndestination:%s\n\nno length here\0\n" % destination).encode())
        message = sub.expect("MESSAGE")
        self.assertEqual(message.body, b"no length here")
        # Every MESSAGE with a body says how long it is.
        self.assertEqual(message.get("content-length"), str(len(message.body)))

    def test_a_body_longer_than_content_length_is_an_error(self):
        c = self.connected()
        c.send_raw(b"SEND\ndestination:/queue/x\ncontent-length:3\n\nabcdef\0")
        self.assert_error(c, "not followed by NUL")
        self.assert_bystander_fine()

    def test_a_content_length_that_is_not_a_number_is_an_error(self):
        for value in (b"x", b"-1", b"3a", b"", b" 3", b"99999999999999999999999"):
            with self.subTest(value=value):
                c = self.connected()
                c.send_raw(b"SEND\ndestination:/queue/x\ncontent-length:" + value + b"\n\nabc\0")
                self.assert_error(c, "content-length")
        self.assert_bystander_fine()

    def test_content_length_with_leading_zeros_counts_octets(self):
        destination, pub, sub = self.pair()
        pub.send_raw(("SEND\ndestination:%s\ncontent-length:0003\n\na\0b\0" % destination).encode())
        self.assertEqual(sub.expect("MESSAGE").body, b"a\0b")

    # ---- item 7: the first of repeated headers wins ----

    def test_a_repeated_destination_the_first_wins(self):
        first = "/queue/" + unique("first")
        second = "/queue/" + unique("second")
        sub1 = self.connected()
        sub1.subscribe(first, id="a")
        sub2 = self.connected()
        sub2.subscribe(second, id="b")
        pub = self.connected()
        pub.send_frame("SEND", [("destination", first), ("destination", second),
                                ("receipt", "r")], "b")
        pub.expect("RECEIPT", {"receipt-id": "r"})
        self.assertEqual(sub1.expect("MESSAGE").get("destination"), first)
        self.expect_marker(sub2, second, publisher=pub)

    def test_a_repeated_user_header_the_first_value_wins(self):
        destination, pub, sub = self.pair()
        pub.send_frame("SEND", [("destination", destination), ("x-rep", "one"),
                                ("x-rep", "two")], "b")
        message = sub.expect("MESSAGE")
        self.assertEqual(message.get("x-rep"), "one")

    def test_a_repeated_content_length_the_first_wins(self):
        destination, pub, sub = self.pair()
        pub.send_raw(("SEND\ndestination:%s\ncontent-length:3\ncontent-length:1\n\na\0b\0"
                      % destination).encode())
        self.assertEqual(sub.expect("MESSAGE").body, b"a\0b")

    def test_a_repeated_receipt_the_first_wins(self):
        c = self.connected()
        c.send_frame("BEGIN", [("transaction", "t"), ("receipt", "one"), ("receipt", "two")])
        c.expect("RECEIPT", {"receipt-id": "one"})
        c.sync()  # no second RECEIPT ("two") before these

    def test_a_repeated_subscription_id_the_first_wins(self):
        destination = "/queue/" + unique("rep-id")
        c = self.connected()
        c.send_frame("SUBSCRIBE", [("destination", destination), ("id", "first"),
                                   ("id", "second"), ("receipt", "r")])
        c.expect("RECEIPT", {"receipt-id": "r"})
        c.send(destination, "b")
        self.assertEqual(c.expect("MESSAGE").get("subscription"), "first")


if __name__ == "__main__":
    unittest.main()

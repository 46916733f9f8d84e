"""Listeners: STOMP over TLS and over WebSocket beside plain TCP, each
listener's handshake failures kept to its own connection, and the
configuration's errors naming the key."""

import json
import os
import socket
import ssl
import subprocess
import tempfile
import unittest

from stampede_test import STAMPEDE_BIN, Broker, Client, ConnectionClosed, data_dir_args
from stampede_transports import (Pki, TlsClient, WebSocketClient, WebSocketRefused,
                                 listener_port)


def setUpModule():
    global pki
    pki = Pki()


def tearDownModule():
    pki.close()


def exchange(publisher, subscriber, destination, body):
    """SUBSCRIBE on one connection, SEND on the other, the MESSAGE arrives."""
    subscriber.subscribe(destination)
    publisher.send(destination, body, receipt="sent")
    message = subscriber.await_frame("MESSAGE")
    assert message.body == body.encode(), message
    assert message.get("destination") == destination, message


class TlsListener(unittest.TestCase):
    def broker(self, verify_client=None, limits=None):
        config = {"listeners": [{"name": "tls", "port": 0,
                                 "tls": pki.tls_block(verify_client)}]}
        if limits:
            config["limits"] = limits
        return Broker(config=config)

    def test_stomp_over_tls_reaches_plain_subscribers_and_back(self):
        with self.broker() as broker:
            port = listener_port(broker, "tls")
            self.assertNotEqual(port, broker.port)  # --listen added the plain listener
            with TlsClient(port, ca=pki.ca) as secure, Client(broker.port) as plain:
                self.assertIn(secure.sock.version(), ("TLSv1.2", "TLSv1.3"))
                secure.connect()
                plain.connect()
                exchange(plain, secure, "/queue/to-tls", "over TLS")
                exchange(secure, plain, "/topic/from-tls", "from TLS")
                secure.disconnect()

    def test_tls_1_1_is_refused(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(pki.ca)
        try:
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ValueError, ssl.SSLError):
            self.skipTest("this Python cannot offer TLS 1.1")
        with self.broker() as broker:
            with self.assertRaises((ssl.SSLError, ConnectionResetError)):
                TlsClient(listener_port(broker, "tls"), context=context)

    def test_failed_and_stalled_handshakes_do_not_disturb_a_bystander(self):
        with self.broker(limits={"connect_timeout_ms": 300}) as broker:
            port = listener_port(broker, "tls")
            with TlsClient(port, ca=pki.ca) as bystander, Client(broker.port) as publisher:
                bystander.connect()
                bystander.subscribe("/topic/watch")
                publisher.connect()
                # Plain STOMP sent to the TLS port: a TLS alert, then the close.
                with socket.create_connection(("127.0.0.1", port), timeout=10) as wrong:
                    wrong.sendall(b"CONNECT\naccept-version:1.2\nhost:/\n\n\0")
                    while wrong.recv(4096):
                        pass
                # A client that does not trust the server's CA gives up.
                with self.assertRaises(ssl.SSLCertVerificationError):
                    TlsClient(port, context=ssl.create_default_context())
                # A client that never says hello is closed at the connect deadline.
                with socket.create_connection(("127.0.0.1", port), timeout=10) as silent:
                    self.assertEqual(silent.recv(4096), b"")
                # Garbage after a good hello's TCP connection: closed too.
                with socket.create_connection(("127.0.0.1", port), timeout=10) as noise:
                    noise.sendall(os.urandom(2048))
                    try:
                        while noise.recv(4096):
                            pass
                    except ConnectionResetError:
                        pass
                publisher.send("/topic/watch", "still here", receipt="r1")
                self.assertEqual(bystander.await_frame("MESSAGE").body, b"still here")
                with TlsClient(port, ca=pki.ca) as later:
                    later.connect()
                    later.disconnect()
            self.assertIn("TLS handshake with", broker.log())

    def test_client_certificates_when_required(self):
        with self.broker(verify_client="required") as broker:
            port = listener_port(broker, "tls")
            with TlsClient(port, context=pki.client_context(with_certificate=True)) as c:
                c.connect()
                c.disconnect()
            # Without a certificate, TLS 1.3 reports the refusal at the first read.
            with self.assertRaises((ssl.SSLError, ConnectionClosed, ConnectionResetError)):
                with TlsClient(port, context=pki.client_context()) as c:
                    c.connect()


class WebSocketListener(unittest.TestCase):
    def test_stomp_over_websocket(self):
        config = {"listeners": [{"name": "web", "port": 0, "websocket": {"path": "/ws"}}]}
        with Broker(config=config) as broker:
            port = listener_port(broker, "web")
            with WebSocketClient(port) as web, Client(broker.port) as plain:
                self.assertEqual(web.subprotocol, "v12.stomp")
                web.connect()
                plain.connect()
                exchange(plain, web, "/queue/to-web", "over WebSocket")
                exchange(web, plain, "/topic/from-web", "from WebSocket")
                web.disconnect()
            with self.assertRaises(WebSocketRefused) as refused:
                WebSocketClient(port, path="/elsewhere")
            self.assertEqual(refused.exception.status, 404)

    def test_origins_outside_the_allow_list_are_refused(self):
        config = {"listeners": [{"name": "web", "port": 0, "websocket": {
            "path": "/stomp", "allowed_origins": ["https://app.example"]}}]}
        with Broker(config=config) as broker:
            port = listener_port(broker, "web")
            with self.assertRaises(WebSocketRefused) as refused:
                WebSocketClient(port, path="/stomp", origin="https://evil.example")
            self.assertEqual(refused.exception.status, 403)
            with WebSocketClient(port, path="/stomp", origin="https://app.example") as web:
                web.connect()
                web.disconnect()

    def test_stomp_over_websocket_over_tls(self):
        config = {"listeners": [{"name": "web-tls", "port": 0, "websocket": {},
                                 "tls": pki.tls_block()}]}
        with Broker(config=config) as broker:
            port = listener_port(broker, "web-tls")
            with WebSocketClient(port, ssl_context=pki.client_context()) as web, \
                    Client(broker.port) as plain:
                web.connect()
                plain.connect()
                exchange(plain, web, "/queue/to-wss", "over wss")
                web.disconnect()


class ListenerConfiguration(unittest.TestCase):
    def start(self, config, *args):
        handle, path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(handle, "w") as out:
            json.dump(config, out)
        try:
            return subprocess.run([STAMPEDE_BIN, "--config", path, "--admin", "off"] + list(args)
                                  + data_dir_args("none", args, config),
                                  capture_output=True, text=True, timeout=30)
        finally:
            os.unlink(path)

    def assert_refused(self, config, says, status=2):
        result = self.start(config)
        self.assertEqual(result.returncode, status, result.stderr)
        self.assertIn(says, result.stderr)

    def test_errors_name_the_key(self):
        self.assert_refused({"listeners": [{"name": "a"}]}, "'listeners[0].port' is missing")
        self.assert_refused({"listeners": []}, "'listeners' must be a non-empty list")
        self.assert_refused({"listeners": [{"port": 1, "tls": {"certificate": "c.pem"}}]},
                            "'listeners[0].tls' needs 'certificate' and 'private_key'")
        self.assert_refused({"listeners": [{"port": 1, "tls": {
            "certificate": "c", "private_key": "k", "verify_client": "required"}}]},
            "'listeners[0].tls.ca'")
        self.assert_refused({"listeners": [{"port": 1, "tls": {
            "certificate": "c", "private_key": "k", "verify_client": "maybe"}}]},
            "'listeners[0].tls.verify_client' must be one of none, optional, required")
        self.assert_refused({"listeners": [{"port": 1, "websocket": {"path": "ws"}}]},
                            "'listeners[0].websocket.path' must start with '/'")
        self.assert_refused({"listeners": [{"port": 1, "wat": 1}]},
                            "unknown configuration key 'listeners[0].wat'")
        self.assert_refused({"listeners": [{"name": "x", "port": 1}, {"name": "x", "port": 2}]},
                            "two listeners are named 'x'")
        self.assert_refused({"listen": "127.0.0.1:1", "listeners": [{"port": 2}]},
                            "'listeners' replaces the top-level 'listen'")

    def test_unreadable_certificate_stops_start_up_naming_the_listener(self):
        result = self.start({"listeners": [{"name": "secure", "port": 0, "tls": {
            "certificate": "/nonexistent/cert.pem", "private_key": "/nonexistent/key.pem"}}]})
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("listener 'secure'", result.stderr)

    def test_old_bind_and_port_mean_one_plain_listener(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        broker = Broker(config={"bind": "127.0.0.1", "port": free})
        broker.start()  # --listen 127.0.0.1:0 wins over the file, as before
        try:
            with Client(broker.port) as c:
                c.connect()
                c.disconnect()
            self.assertIn("listener 'stomp' (tcp)", broker.log())
        finally:
            self.assertEqual(broker.stop(), 0)


if __name__ == "__main__":
    unittest.main()

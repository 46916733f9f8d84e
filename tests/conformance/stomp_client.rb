# One conformance scenario with the Ruby `stomp` gem (ruby-stomp 1.4.10).
#
#   ruby stomp_client.rb PORT VERSION SCENARIO [SPEC-JSON]
#
# VERSION is 1.0, 1.1 or 1.2; SPEC names destinations and payloads. The
# program prints what it observed as one JSON line; test_ruby_stomp.py and
# test_interop.py make the assertions. It exits non-zero (with a message on
# stderr) when the broker does not answer in time. Scenarios that wait for a
# peer print READY once subscribed.
#
# Most scenarios use Stomp::Connection, the gem's synchronous API, so that
# every RECEIPT and MESSAGE is read in order; `client_api` uses Stomp::Client,
# the callback API with its listener thread.

require 'json'
require 'stomp'

$stdout.sync = true

PORT = Integer(ARGV.fetch(0))
VERSION = ARGV.fetch(1)
SCENARIO = ARGV.fetch(2)
SPEC = ARGV[3] ? JSON.parse(ARGV[3]) : {}
WAIT = 10.0

HOST = '127.0.0.1'

# The gem's defaults: on 1.0 no CONNECT headers at all; on 1.1 and 1.2 it
# insists on `host` beside `accept-version` (ProtocolErrorConnect otherwise),
# and its examples put the broker's host name there: the host we dial.
def params(version, extra_headers = {})
  headers = {}
  headers = { :"accept-version" => version, :host => HOST } unless version == '1.0'
  headers.merge!(extra_headers)
  { hosts: [{ login: '', passcode: '', host: HOST, port: PORT, ssl: false }],
    reliable: false, connect_headers: headers, connect_timeout: 5, connread_timeout: 5 }
end

def utf8(text)
  text.to_s.dup.force_encoding('UTF-8')
end

def describe_frame(frame)
  headers = {}
  frame.headers.each { |k, v| headers[utf8(k)] = v.is_a?(Array) ? v.map { |e| utf8(e) } : utf8(v) }
  body = frame.body.to_s.b
  text = body.dup.force_encoding('UTF-8')
  { 'command' => frame.command, 'headers' => headers, 'body_hex' => body.unpack1('H*'),
    'body' => text.valid_encoding? ? text : nil }
end

# A Stomp::Connection and every frame read from it, in order.
class Peer
  attr_reader :conn, :frames

  def initialize(version = VERSION, extra_headers = {})
    @conn = Stomp::Connection.new(params(version, extra_headers))
    @frames = []
  end

  def await(what, timeout = WAIT)
    deadline = Time.now + timeout
    seen = 0
    loop do
      while seen < @frames.size
        frame = @frames[seen]
        seen += 1
        return frame if yield(frame)
      end
      frame = @conn.poll
      if frame
        @frames << frame
        next
      end
      raise "timed out waiting for #{what}; have #{summary}" if Time.now > deadline
      sleep 0.002
    end
  end

  def receipt(id)
    await("RECEIPT #{id}") { |f| f.command == 'RECEIPT' && f.headers['receipt-id'] == id }
  end

  def message(body)
    await("MESSAGE #{body}") { |f| f.command == 'MESSAGE' && f.body == body }
  end

  def nth_message(n)
    await("#{n} messages") { messages.size >= n }
    messages[n - 1]
  end

  def error
    await('ERROR') { |f| f.command == 'ERROR' }
  end

  def messages
    @frames.select { |f| f.command == 'MESSAGE' }
  end

  def bodies
    messages.map(&:body)
  end

  def receipts
    @frames.select { |f| f.command == 'RECEIPT' }.map { |f| f.headers['receipt-id'] }
  end

  def subscribe(destination, id, headers = {})
    @conn.subscribe(destination, headers.merge(id: id, receipt: "sub-#{id}"))
    receipt("sub-#{id}")
  end

  def publish(destination, body, headers = {})
    @serial = (@serial || 0) + 1
    id = "pub-#{@serial}"
    @conn.publish(destination, body, headers.merge(receipt: id))
    receipt(id)
  end

  # The gem's ack/nack take the ack id (1.2: the `ack` header; 1.0 and 1.1:
  # the message-id) and, on 1.1, the subscription.
  def ack_args(message, headers)
    h = message.headers
    case @conn.protocol
    when Stomp::SPL_12 then [h['ack'], headers]
    when Stomp::SPL_11 then [h['message-id'], headers.merge(subscription: h['subscription'])]
    else [h['message-id'], headers]
    end
  end

  def ack(message, headers = {})
    @conn.ack(*ack_args(message, headers))
  end

  def nack(message, headers = {})
    @conn.nack(*ack_args(message, headers))
  end

  def disconnect(id = 'bye')
    @conn.disconnect(receipt: id)
    @conn.disconnect_receipt
  end

  def closed_by_broker?(timeout = WAIT)
    deadline = Time.now + timeout
    loop do
      begin
        frame = @conn.poll
        @frames << frame if frame
      rescue Stomp::Error::NoCurrentConnection, IOError, SystemCallError
        return true
      end
      return true if @conn.closed?
      return false if Time.now > deadline
      sleep 0.002
    end
  end

  def summary
    @frames.map { |f| "#{f.command}(#{f.headers['receipt-id'] || f.body.to_s[0, 30]})" }.join(', ')
  end
end

def report(hash)
  puts JSON.generate(hash)
end

def redelivered(frames)
  frames.map { |f| f.headers['redelivered'] }
end

# ---- scenarios

def scenario_basic
  queue = SPEC.fetch('queue')
  topic = SPEC.fetch('topic')
  a = Peer.new
  b = Peer.new
  a.subscribe(queue, 'rq')
  a.subscribe(topic, 'rt')
  b.subscribe(topic, 'rt2')
  a.publish(queue, 'queue body from ruby', 'x-lang' => 'ruby')
  a.publish(topic, 'topic body from ruby', 'x-lang' => 'ruby')
  queue_message = a.message('queue body from ruby')
  topic_message = a.message('topic body from ruby')
  topic_message_b = b.message('topic body from ruby')
  receipts_a = a.receipts
  # Connection#disconnect reads one frame after DISCONNECT: the RECEIPT.
  disconnect_a = a.disconnect('bye-a')
  disconnect_b = b.disconnect('bye-b')
  farewells = [disconnect_a, disconnect_b].map { |r| r && r.headers['receipt-id'] }
  report('protocol' => a.conn.protocol,
         'connected' => describe_frame(a.conn.connection_frame),
         'queue_message' => describe_frame(queue_message),
         'topic_message' => describe_frame(topic_message),
         'topic_message_b' => describe_frame(topic_message_b),
         'receipts' => receipts_a,
         'disconnect_receipts' => farewells)
end

def scenario_client_ack
  queue = SPEC.fetch('queue')
  mode = SPEC.fetch('mode')
  producer = Peer.new
  %w[m1 m2 m3].each { |body| producer.publish(queue, body) }
  consumer = Peer.new
  consumer.subscribe(queue, 'ca', ack: mode)
  first = (1..3).map { |n| consumer.nth_message(n) }
  consumer.ack(first[1], receipt: 'ack-m2')
  consumer.receipt('ack-m2')
  consumer.disconnect
  other = Peer.new
  other.subscribe(queue, 'after')
  other.nth_message(SPEC.fetch('expect_redelivered'))
  producer.publish(queue, 'marker')
  other.message('marker')
  report('first' => first.map(&:body), 'ack_headers' => first.map { |f| f.headers['ack'] },
         'after' => other.bodies, 'redelivered' => redelivered(other.messages))
  producer.disconnect
  other.disconnect
end

def scenario_nack
  queue = SPEC.fetch('queue')
  peer = Peer.new
  peer.subscribe(queue, 'n', ack: 'client-individual')
  peer.publish(queue, 'refused once', 'x-keep' => 'yes')
  first = peer.nth_message(1)
  peer.nack(first, receipt: 'nack-1')
  peer.receipt('nack-1')
  second = peer.nth_message(2)
  peer.ack(second, receipt: 'ack-2')
  peer.receipt('ack-2')
  report('deliveries' => [describe_frame(first), describe_frame(second)],
         'receipts' => peer.receipts)
  peer.disconnect
end

def scenario_transaction
  queue = SPEC.fetch('queue')
  consumer = Peer.new
  consumer.subscribe(queue, 'tx')
  producer = Peer.new
  producer.conn.begin('tx-commit', receipt: 'begin-1')
  producer.receipt('begin-1')
  producer.conn.publish(queue, 'committed', transaction: 'tx-commit')
  producer.publish(queue, 'marker-1')
  consumer.message('marker-1')
  before_commit = consumer.bodies
  producer.conn.commit('tx-commit', receipt: 'commit-1')
  producer.receipt('commit-1')
  consumer.message('committed')
  producer.conn.begin('tx-abort', receipt: 'begin-2')
  producer.conn.publish(queue, 'aborted', transaction: 'tx-abort')
  producer.conn.abort('tx-abort', receipt: 'abort-2')
  producer.receipt('abort-2')
  producer.publish(queue, 'marker-2')
  consumer.message('marker-2')
  report('before_commit' => before_commit, 'bodies' => consumer.bodies,
         'receipts' => producer.receipts)
  producer.disconnect
  consumer.disconnect
end

def scenario_error
  peer = Peer.new
  peer.conn.publish('/nowhere/ruby', 'lost', receipt: 'bad')
  error = peer.error
  report('error' => describe_frame(error), 'closed' => peer.closed_by_broker?,
         'receipts' => peer.receipts)
end

def scenario_connect
  peer = Peer.new(VERSION, SPEC.fetch('headers', {}).transform_keys(&:to_sym))
  frame = peer.conn.connection_frame
  report('protocol' => peer.conn.protocol, 'connected' => describe_frame(frame))
  peer.disconnect if frame.command == 'CONNECTED'
end

def scenario_heartbeat
  peer = Peer.new(VERSION, :"heart-beat" => SPEC.fetch('heart_beat'))
  deadline = Time.now + SPEC.fetch('quiet_seconds')
  while Time.now < deadline # quiet: no frames of ours, only the ticker's beats
    sleep 0.05
  end
  sent = peer.conn.hbsend_count
  peer.publish(SPEC.fetch('topic'), 'ruby still alive')
  report('connected' => describe_frame(peer.conn.connection_frame), 'beats_sent' => sent,
         'beats_received' => peer.conn.hbrecv_count, 'receipts' => peer.receipts)
  peer.disconnect
end

# Stomp::Client: callbacks on the gem's listener thread.
def scenario_client_api
  queue = SPEC.fetch('queue')
  lock = Mutex.new
  got = []
  receipts = []
  client = Stomp::Client.new(params(VERSION))
  client.subscribe(queue, id: 'cb', ack: 'client') do |message|
    lock.synchronize { got << message }
  end
  wait = lambda do |what, &done|
    deadline = Time.now + WAIT
    until lock.synchronize(&done)
      raise "timed out waiting for #{what}" if Time.now > deadline
      sleep 0.002
    end
  end
  on_receipt = ->(r) { lock.synchronize { receipts << r.headers['receipt-id'] } }
  client.publish(queue, 'via client one', &on_receipt)
  client.publish(queue, 'via client two', &on_receipt)
  wait.call('2 messages') { got.size >= 2 }
  client.begin('cb-tx')
  client.ack(got[1], transaction: 'cb-tx')
  client.commit('cb-tx')
  client.publish(queue, 'after commit', &on_receipt)
  wait.call('3 messages and 3 receipts') { got.size >= 3 && receipts.size >= 3 }
  client.ack(got[2])
  bodies = lock.synchronize { got.map(&:body) }
  # Workaround: Client#close kills the listener thread (Thread#exit, no
  # join) and then reads the RECEIPT on this thread; if the dying listener
  # was inside read(2) when the RECEIPT arrived, those bytes are lost and
  # close sees EOF (40 of 48 runs under load). Stop the listener first.
  listener = client.instance_variable_get(:@listener_thread)
  listener.exit
  listener.join
  client.close(receipt: 'client-bye')
  farewell = client.disconnect_receipt
  report('bodies' => bodies, 'receipts' => receipts, 'protocol' => client.protocol,
         'disconnect_receipt' => farewell && farewell.headers['receipt-id'],
         'disconnect_frame' => farewell && describe_frame(farewell))
end

# ---- for test_message_ids.py

def id_report(messages)
  messages.map do |m|
    { 'message-id' => m.headers['message-id'], 'ack' => m.headers['ack'],
      'redelivered' => m.headers['redelivered'], 'body' => m.body }
  end
end

# Takes COUNT messages without acknowledging them, reports them, says READY
# and waits to be killed: a consumer process that dies holding messages.
def scenario_hold
  peer = Peer.new
  peer.subscribe(SPEC.fetch('queue'), 'hold', ack: SPEC.fetch('mode'))
  messages = (1..SPEC.fetch('count')).map { |n| peer.nth_message(n) }
  report('messages' => id_report(messages))
  puts 'READY'
  sleep 60
end

# Takes COUNT messages, acknowledges each (unless auto), reports them.
def scenario_take
  peer = Peer.new
  mode = SPEC.fetch('mode')
  peer.subscribe(SPEC.fetch('queue'), 'take', ack: mode)
  messages = (1..SPEC.fetch('count')).map { |n| peer.nth_message(n) }
  messages.each_with_index do |m, i|
    next if mode == 'auto'
    peer.ack(m, receipt: "ack-#{i}")
    peer.receipt("ack-#{i}")
  end
  report('messages' => id_report(messages))
  peer.disconnect
end

# ---- for test_interop.py

def scenario_send
  peer = Peer.new
  body = [SPEC.fetch('body_hex')].pack('H*')
  body.force_encoding('UTF-8') if SPEC['text']
  headers = SPEC.fetch('headers', {})
  peer.publish(SPEC.fetch('destination'), body, headers)
  report('receipts' => peer.receipts)
  peer.disconnect
end

def scenario_receive
  peer = Peer.new
  peer.subscribe(SPEC.fetch('destination'), 'interop')
  puts 'READY'
  message = peer.nth_message(1)
  raw = message.original.to_s.b
  report('message' => describe_frame(message),
         'raw_head' => raw[0, raw.index("\n\n") || raw.size].force_encoding('UTF-8').scrub)
  peer.disconnect
end

begin
  send("scenario_#{SCENARIO}")
rescue StandardError => e
  warn "#{e.class}: #{e.message}"
  warn e.backtrace.first(8).join("\n")
  exit 1
end

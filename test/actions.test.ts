import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAction } from '../src/sop/actions.js';
import type { ToolArgs, ToolName } from '../src/sop/types.js';

const FILE = 'sops/fan/SOP.md';
const FENCE = 10; // the block's opening fence line: block line k is file line 10 + k

const parse = (tool: ToolName, source: string) => parseAction(tool, source, FILE, FENCE);
const args = (tool: ToolName, source: string) => {
  const r = parse(tool, source);
  assert.deepEqual(r.errors, []);
  assert.ok(r.action);
  return r.action.args;
};
const messages = (tool: ToolName, source: string) => {
  const r = parse(tool, source);
  assert.equal(r.action, null);
  return r.errors.map((e) => e.message);
};

describe('parseAction: shell', () => {
  it('keeps the script as source with empty args', () => {
    const script = 'systemctl restart fanctl\necho "done $SOP_RUN_ID"\n';
    assert.deepEqual(parse('shell', script), { action: { tool: 'shell', source: script, args: {} }, errors: [] });
  });

  it('rejects an empty or blank script at the fence line', () => {
    for (const script of ['', '  \n\t\n']) {
      assert.deepEqual(parse('shell', script), {
        action: null,
        errors: [{ message: 'shell block: the script is empty', file: FILE, line: FENCE }],
      });
    }
  });
});

describe('parseAction: TOML syntax', () => {
  it('reports the TOML line and column and maps to the file line', () => {
    const r = parse('http_request', 'url = "http://x"\nmethod = \n');
    assert.equal(r.action, null);
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]?.file, FILE);
    assert.equal(r.errors[0]?.line, FENCE + 2);
    assert.match(r.errors[0]?.message ?? '', /^http_request block: invalid TOML at line 2, column \d+: invalid value$/);
  });

  it('reports a duplicate key on its line', () => {
    const r = parse('log', 'message = "a"\n\nmessage = "b"');
    assert.equal(r.errors[0]?.line, FENCE + 3);
    assert.match(r.errors[0]?.message ?? '', /^log block: invalid TOML at line 3, column 1: /);
  });
});

describe('parseAction: argument checks common to all tools', () => {
  it('rejects unknown arguments, naming them, on the key line', () => {
    const r = parse('delay', 'seconds = 1\ntimeout = 5');
    assert.equal(r.action, null);
    assert.deepEqual(r.errors, [{ message: 'delay block: unknown argument "timeout"', file: FILE, line: FENCE + 2 }]);
  });

  it('collects every problem at once', () => {
    const r = parse('gpio_write', 'valu = 1\npulse_ms = 0');
    assert.deepEqual(
      r.errors.map((e) => [e.message, e.line]),
      [
        ['gpio_write block: unknown argument "valu"', FENCE + 1],
        ['gpio_write block: missing required argument "signal"', FENCE],
        ['gpio_write block: missing required argument "value"', FENCE],
        ['gpio_write block: argument "pulse_ms" must be a positive integer, got 0', FENCE + 2],
      ],
    );
  });

  it('an empty block means every required argument is missing', () => {
    assert.deepEqual(messages('delay', ''), ['delay block: missing required argument "seconds"']);
  });
});

describe('parseAction: http_request', () => {
  it('applies defaults', () => {
    assert.deepEqual(args('http_request', 'url = "https://example.com/hook"'), {
      url: 'https://example.com/hook',
      method: 'GET',
      headers: {},
      body: '',
      timeout_secs: 10,
    });
  });

  it('accepts every field, method case-insensitive stored uppercase, headers as a table section', () => {
    const a = args(
      'http_request',
      'url = "http://10.0.0.2:8080/x"\nmethod = "patch"\nbody = \'{"a":1}\'\ntimeout_secs = 2.5\n[headers]\nAuthorization = "Bearer t"\n',
    );
    assert.deepEqual(a, {
      url: 'http://10.0.0.2:8080/x',
      method: 'PATCH',
      headers: { Authorization: 'Bearer t' },
      body: '{"a":1}',
      timeout_secs: 2.5,
    });
    // A plain object (not TOML's null-prototype table) so it serializes and compares normally.
    assert.equal(Object.getPrototypeOf((a as ToolArgs['http_request']).headers), Object.prototype);
  });

  it('gives each action its own default headers object', () => {
    const first = args('http_request', 'url = "http://a"');
    (first as ToolArgs['http_request']).headers.X = 'y';
    assert.deepEqual((args('http_request', 'url = "http://a"') as ToolArgs['http_request']).headers, {});
  });

  it('rejects missing url, bad url, bad method, headers, body and timeout', () => {
    assert.deepEqual(messages('http_request', 'method = "GET"'), ['http_request block: missing required argument "url"']);
    assert.deepEqual(messages('http_request', 'url = "ftp://x"'), [
      'http_request block: argument "url" must be an http:// or https:// URL string, got "ftp://x"',
    ]);
    assert.deepEqual(messages('http_request', 'url = 5'), [
      'http_request block: argument "url" must be an http:// or https:// URL string, got 5',
    ]);
    assert.deepEqual(messages('http_request', 'url = "http://a"\nmethod = "FETCH"'), [
      'http_request block: argument "method" must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, got "FETCH"',
    ]);
    assert.deepEqual(messages('http_request', 'url = "http://a"\nheaders = { X = 1 }'), [
      'http_request block: argument "headers" must be a table of strings, got a table',
    ]);
    assert.deepEqual(messages('http_request', 'url = "http://a"\nheaders = ["a"]'), [
      'http_request block: argument "headers" must be a table of strings, got an array',
    ]);
    assert.deepEqual(messages('http_request', 'url = "http://a"\nbody = { a = 1 }'), [
      'http_request block: argument "body" must be a string, got a table',
    ]);
    assert.deepEqual(messages('http_request', 'url = "http://a"\ntimeout_secs = 0'), [
      'http_request block: argument "timeout_secs" must be a positive number, got 0',
    ]);
  });

  it('points a [headers] section error at the section line', () => {
    const r = parse('http_request', 'url = "http://a"\n[headers]\nX = true');
    assert.deepEqual(r.errors.map((e) => e.line), [FENCE + 2]);
  });
});

describe('parseAction: mqtt_publish', () => {
  it('applies defaults', () => {
    assert.deepEqual(args('mqtt_publish', 'topic = "fan/cmd"'), { topic: 'fan/cmd', payload: '', qos: 0, retain: false });
  });

  it('accepts every field', () => {
    assert.deepEqual(args('mqtt_publish', 'topic = "a/b"\npayload = "on"\nqos = 2\nretain = true'), {
      topic: 'a/b',
      payload: 'on',
      qos: 2,
      retain: true,
    });
  });

  it('rejects a missing, empty or wildcard topic', () => {
    const bad = 'must be a non-empty topic string without + or # wildcards';
    assert.deepEqual(messages('mqtt_publish', 'payload = "x"'), ['mqtt_publish block: missing required argument "topic"']);
    assert.deepEqual(messages('mqtt_publish', 'topic = ""'), [`mqtt_publish block: argument "topic" ${bad}, got ""`]);
    assert.deepEqual(messages('mqtt_publish', 'topic = "a/+/b"'), [`mqtt_publish block: argument "topic" ${bad}, got "a/+/b"`]);
    assert.deepEqual(messages('mqtt_publish', 'topic = "a/#"'), [`mqtt_publish block: argument "topic" ${bad}, got "a/#"`]);
  });

  it('rejects bad qos, retain and payload', () => {
    assert.deepEqual(messages('mqtt_publish', 'topic = "a"\nqos = 3'), ['mqtt_publish block: argument "qos" must be 0, 1 or 2, got 3']);
    assert.deepEqual(messages('mqtt_publish', 'topic = "a"\nqos = "1"'), ['mqtt_publish block: argument "qos" must be 0, 1 or 2, got "1"']);
    assert.deepEqual(messages('mqtt_publish', 'topic = "a"\nretain = "yes"'), [
      'mqtt_publish block: argument "retain" must be true or false, got "yes"',
    ]);
    assert.deepEqual(messages('mqtt_publish', 'topic = "a"\npayload = 42'), ['mqtt_publish block: argument "payload" must be a string, got 42']);
  });
});

describe('parseAction: gpio_write', () => {
  it('requires signal and value; pulse_ms is optional with no default', () => {
    assert.deepEqual(args('gpio_write', 'signal = "fan_relay"\nvalue = 1'), { signal: 'fan_relay', value: 1 });
    assert.deepEqual(args('gpio_write', 'signal = "fan_relay"\nvalue = 0\npulse_ms = 250'), {
      signal: 'fan_relay',
      value: 0,
      pulse_ms: 250,
    });
  });

  it('rejects bad value and pulse_ms', () => {
    assert.deepEqual(messages('gpio_write', 'signal = "s"\nvalue = 2'), ['gpio_write block: argument "value" must be 0 or 1, got 2']);
    assert.deepEqual(messages('gpio_write', 'signal = "s"\nvalue = true'), ['gpio_write block: argument "value" must be 0 or 1, got true']);
    assert.deepEqual(messages('gpio_write', 'signal = "s"\nvalue = 1\npulse_ms = 1.5'), [
      'gpio_write block: argument "pulse_ms" must be a positive integer, got 1.5',
    ]);
    assert.deepEqual(messages('gpio_write', 'signal = ""\nvalue = 1'), ['gpio_write block: argument "signal" must be a non-empty string, got ""']);
  });
});

describe('parseAction: serial_write', () => {
  it('applies defaults and keeps expect when given', () => {
    assert.deepEqual(args('serial_write', 'signal = "modem"\ndata = "AT\\r\\n"'), { signal: 'modem', data: 'AT\r\n', timeout_secs: 5 });
    assert.deepEqual(args('serial_write', 'signal = "modem"\ndata = "AT"\nexpect = "OK"\ntimeout_secs = 1'), {
      signal: 'modem',
      data: 'AT',
      expect: 'OK',
      timeout_secs: 1,
    });
  });

  it('rejects missing data, bad expect and bad timeout', () => {
    assert.deepEqual(messages('serial_write', 'signal = "m"'), ['serial_write block: missing required argument "data"']);
    assert.deepEqual(messages('serial_write', 'signal = "m"\ndata = "x"\nexpect = 1'), ['serial_write block: argument "expect" must be a valid regular expression, got 1']);
    assert.deepEqual(messages('serial_write', 'signal = "m"\ndata = "x"\nexpect = "OK ("'), ['serial_write block: argument "expect" must be a valid regular expression, got "OK ("']);
    assert.deepEqual(messages('serial_write', 'signal = "m"\ndata = "x"\ntimeout_secs = -1'), [
      'serial_write block: argument "timeout_secs" must be a positive number, got -1',
    ]);
  });
});

describe('parseAction: delay', () => {
  it('accepts zero, integers and fractions', () => {
    assert.deepEqual(args('delay', 'seconds = 0'), { seconds: 0 });
    assert.deepEqual(args('delay', 'seconds = 1.5'), { seconds: 1.5 });
  });

  it('rejects negative, non-number and infinite seconds', () => {
    assert.deepEqual(messages('delay', 'seconds = -1'), ['delay block: argument "seconds" must be a non-negative number, got -1']);
    assert.deepEqual(messages('delay', 'seconds = "5"'), ['delay block: argument "seconds" must be a non-negative number, got "5"']);
    assert.deepEqual(messages('delay', 'seconds = inf'), ['delay block: argument "seconds" must be a non-negative number, got Infinity']);
  });
});

describe('parseAction: log', () => {
  it('defaults level to info and normalizes its case', () => {
    assert.deepEqual(args('log', 'message = "fan restarted"'), { message: 'fan restarted', level: 'info' });
    assert.deepEqual(args('log', 'message = "m"\nlevel = "WARN"'), { message: 'm', level: 'warn' });
  });

  it('rejects a missing message and an unknown level', () => {
    assert.deepEqual(messages('log', 'level = "info"'), ['log block: missing required argument "message"']);
    assert.deepEqual(messages('log', 'message = "m"\nlevel = "verbose"'), [
      'log block: argument "level" must be one of debug, info, warn, error, got "verbose"',
    ]);
  });
});

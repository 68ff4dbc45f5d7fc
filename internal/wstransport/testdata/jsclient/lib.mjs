// Shared helpers: print one JSON object per line and exit on a deadline.
export const url = process.argv[2];
if (!url) {
  console.error('usage: node <script> ws://host/path');
  process.exit(2);
}

export function out(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

// fail prints the error as an event and exits non-zero.
export function fail(err) {
  out({ event: 'failure', error: String(err && (err.stack || err.message || err.reason || JSON.stringify(err))) });
  process.exit(1);
}

setTimeout(() => fail(new Error('timed out')), 15000).unref();
process.on('unhandledRejection', fail);

// Drives the dashboard in headless Chromium for the Go test
// (server/dashboard_test.go): it reads one JSON command per line on stdin
// and answers each with one JSON line on stdout ({"ok": true, ...} or
// {"error": "..."}), so that the test makes changes through the API, stops
// and restarts the server, and asks the page what it shows.
//
// Environment: CHROMIUM, the browser's executable (/usr/bin/chromium);
// PROFILE_ROOT, where each browser gets a fresh profile directory.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const pages = new Map(); // name -> {context, page}
const errors = [];

// Installed in every page before its scripts: the recorders of long tasks,
// long animation frames (both reported only above 50 ms) and of the
// intervals between animation frames.
function recordFrames() {
  // Entries are delivered a little after their frame: only those that
  // started once recording did count.
  const f = (window.__frames = { on: false, since: 0, longTasks: [], longFrames: [], maxInterval: 0, frames: 0, last: 0 });
  new PerformanceObserver((list) => {
    if (f.on) for (const e of list.getEntries()) if (e.startTime >= f.since) f.longTasks.push(Math.round(e.duration));
  }).observe({ type: 'longtask' });
  try {
    new PerformanceObserver((list) => {
      if (!f.on) return;
      for (const e of list.getEntries()) {
        if (e.startTime < f.since) continue;
        const end = e.startTime + e.duration;
        f.longFrames.push({
          duration: Math.round(e.duration),
          scripts: e.scripts.map((s) => `${s.invoker} ${Math.round(s.duration)}ms`).join(', '),
          render: e.renderStart ? Math.round(end - e.renderStart) : 0,
          styleAndLayout: e.styleAndLayoutStart ? Math.round(end - e.styleAndLayoutStart) : 0,
        });
      }
    }).observe({ type: 'long-animation-frame' });
    f.longFramesObserved = true;
  } catch {
    f.longFramesObserved = false;
  }
  const tick = (t) => {
    if (f.on) {
      if (f.last) {
        f.maxInterval = Math.max(f.maxInterval, t - f.last);
        f.frames++;
      }
      f.last = t;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

function page(name) {
  const p = pages.get(name);
  if (!p) throw new Error(`no page ${name}`);
  return p.page;
}

const commands = {
  // Opens url in a browser of its own (a fresh profile).
  async open({ name, url, width = 1280, height = 900 }) {
    const dir = mkdtempSync(join(process.env.PROFILE_ROOT || '/tmp', 'chromium-'));
    const context = await chromium.launchPersistentContext(dir, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      viewport: { width, height },
    });
    const p = context.pages()[0] || (await context.newPage());
    p.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
    // The browser logs every refused websocket connection (while the
    // server restarts) as an error: those are expected.
    p.on('console', (m) => {
      if (m.type() === 'error' && !/^WebSocket connection to .* failed/.test(m.text())) errors.push(`${name} console: ${m.text()}`);
    });
    await p.addInitScript(recordFrames);
    await p.goto(url);
    pages.set(name, { context, page: p });
    return {};
  },
  // Fills the login form and submits it; answers which form comes next:
  // "mfa" (the second factor is asked) or "dashboard".
  async login({ name, email, password }) {
    const p = page(name);
    await p.fill('#login input[name=email]', email);
    await p.fill('#login input[name=password]', password);
    await p.click('#login button[type=submit]');
    const next = await Promise.race([
      p.waitForSelector('#mfa', { timeout: 10000 }).then(() => 'mfa'),
      p.waitForSelector('#connection', { timeout: 10000 }).then(() => 'dashboard'),
    ]);
    return { next };
  },
  async mfa({ name, code }) {
    const p = page(name);
    await p.fill('#mfa input[name=code]', code);
    await p.click('#mfa button[type=submit]');
    await p.waitForSelector('#connection', { timeout: 10000 });
    return {};
  },
  // Waits until every element matching selector (at least one) has
  // attribute attr equal to value; text instead of attr compares the text.
  // Answers when, by the page's clock (ms since the epoch).
  async wait({ name, selector, attr, text, value, count, timeout = 15000 }) {
    const p = page(name);
    const at = await p.waitForFunction(
      ({ selector, attr, text, value, count }) => {
        const els = [...document.querySelectorAll(selector)];
        if (count !== undefined ? els.length !== count : !els.length) return false;
        const ok = els.every((e) => (text ? e.textContent.trim() === value : attr ? e.getAttribute(attr) === value : true));
        return ok && performance.timeOrigin + performance.now();
      },
      { selector, attr, text, value, count },
      { polling: 'raf', timeout },
    ).catch(async (e) => {
      // Say what the page shows instead.
      const shown = await p.evaluate(({ selector, attr }) => [...document.querySelectorAll(selector)].slice(0, 5)
        .map((e) => (attr ? e.getAttribute(attr) : e.textContent.trim())), { selector, attr }).catch(() => []);
      throw new Error(`${e.message}; the page shows ${JSON.stringify(shown)} for ${selector}`);
    });
    return { at: await at.jsonValue() };
  },
  async click({ name, selector }) {
    await page(name).click(selector, { timeout: 10000 });
    return {};
  },
  async select({ name, selector, value }) {
    await page(name).selectOption(selector, value, { timeout: 10000 });
    return {};
  },
  async fill({ name, selector, value }) {
    await page(name).fill(selector, value, { timeout: 10000 });
    return {};
  },
  async text({ name, selector }) {
    return { text: (await page(name).textContent(selector, { timeout: 10000 })).trim() };
  },
  async count({ name, selector }) {
    return { count: await page(name).locator(selector).count() };
  },
  async framesStart({ name }) {
    await page(name).evaluate(() => {
      const f = window.__frames;
      Object.assign(f, { on: true, since: performance.now(), longTasks: [], longFrames: [], maxInterval: 0, frames: 0, last: 0 });
    });
    return {};
  },
  async framesStop({ name }) {
    // Two more frames, so that the last one's entries are reported.
    await page(name).evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const f = await page(name).evaluate(() => {
      const f = window.__frames;
      f.on = false;
      return f;
    });
    return { longTasks: f.longTasks, longFrames: f.longFrames, longFramesObserved: f.longFramesObserved, maxInterval: Math.round(f.maxInterval * 10) / 10, frames: f.frames };
  },
  // Records a trace of the browser's work (Chromium's tracing) until
  // traceStop.
  async traceStart({ name }) {
    const p = pages.get(name);
    p.cdp = await p.context.newCDPSession(p.page);
    p.trace = [];
    p.cdp.on('Tracing.dataCollected', (d) => p.trace.push(...d.value));
    // Tasks (toplevel) and frames (blink) only: devtools.timeline makes
    // the page's main thread serve DevTools every half second, for up to
    // 40 ms of CPU time, which is the measurement's cost, not the page's.
    await p.cdp.send('Tracing.start', { categories: 'toplevel,blink', transferMode: 'ReportEvents' });
    return {};
  },
  // Stops the trace and answers, for the page's main thread, the longest
  // task and the longest frame (a task that renders one: the animation
  // frame callbacks, style, layout and paint) in wall time (dur) and in
  // the thread's CPU time (cpu), in ms. CPU time is the browser's own work;
  // wall time adds the time other processes held the CPU.
  async traceStop({ name, path }) {
    const p = pages.get(name);
    const done = new Promise((r) => p.cdp.once('Tracing.tracingComplete', r));
    await p.cdp.send('Tracing.end');
    await done;
    if (path) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(path, JSON.stringify(p.trace));
    }
    const events = p.trace;
    const threads = new Map();
    for (const e of events) {
      if (e.ph === 'M' && e.name === 'thread_name' && e.args.name === 'CrRendererMain') threads.set(`${e.pid}:${e.tid}`, 0);
    }
    for (const e of events) {
      const k = `${e.pid}:${e.tid}`;
      if (threads.has(k)) threads.set(k, threads.get(k) + 1);
    }
    const main = [...threads.entries()].sort((a, b) => b[1] - a[1])[0][0];
    const on = events.filter((e) => e.ph === 'X' && `${e.pid}:${e.tid}` === main);
    const tasks = on.filter((e) => e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask');
    // Top-level tasks only (a task may nest another).
    tasks.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
    const top = [];
    for (const t of tasks) {
      const last = top[top.length - 1];
      if (!last || t.ts >= last.ts + last.dur) top.push(t);
    }
    const frames = on.filter((e) => e.name === 'WebFrameWidgetImpl::BeginMainFrame');
    const frameTasks = top.filter((t) => frames.some((f) => f.ts >= t.ts && f.ts < t.ts + t.dur));
    const ms = (us) => Math.round((us || 0) / 100) / 10;
    const longest = (list, key) => list.reduce((m, t) => Math.max(m, t[key] || 0), 0);
    return {
      tasks: top.length,
      frames: frameTasks.length,
      maxTaskCpu: ms(longest(top, 'tdur')),
      maxTaskWall: ms(longest(top, 'dur')),
      maxFrameCpu: ms(longest(frameTasks, 'tdur')),
      maxFrameWall: ms(longest(frameTasks, 'dur')),
      tasksOver50Cpu: top.filter((t) => t.tdur > 50000).map((t) => ms(t.tdur)),
      // What the longest tasks did: their longest parts.
      longest: top.filter((t) => t.tdur > 30000).map((t) => ({
        cpu: ms(t.tdur),
        parts: on.filter((e) => e !== t && e.ts >= t.ts && e.ts + (e.dur || 0) <= t.ts + t.dur && (e.tdur || 0) > 5000)
          .sort((a, b) => b.tdur - a.tdur).slice(0, 6).map((e) => `${e.name} ${ms(e.tdur)}`),
      })),
    };
  },
  async screenshot({ name, path, fullPage = false }) {
    await page(name).screenshot({ path, fullPage });
    return {};
  },
  async close({ name }) {
    const p = pages.get(name);
    pages.delete(name);
    if (p) await p.context.close();
    return {};
  },
  // The page errors and console errors seen so far.
  async errors() {
    return { errors: errors.splice(0) };
  },
};

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let answer;
  try {
    const cmd = JSON.parse(line);
    const fn = commands[cmd.cmd];
    if (!fn) throw new Error(`unknown command ${cmd.cmd}`);
    answer = { ok: true, ...(await fn(cmd)) };
  } catch (e) {
    answer = { error: String((e && e.stack) || e) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}
for (const { context } of pages.values()) await context.close();

// Drive Home Assistant's own frontend in headless Chromium, as a person at the browser would.
//
// Usage: node browser.mjs '<json>' with
//   url          the dashboard to open, e.g. http://127.0.0.1:8123/ipcom-demo/0
//   names        every device name that must be visible on the page
//   toggle       {entity_id, name}: the light whose toggle is clicked
//   screenshot   where to save a PNG of the page once the toggle took effect
//   integrations_screenshot  optional: where to save a PNG of Settings > Devices & services
//                once the ipcom card shows its brand icon (Home Assistant 2026.3 and newer
//                serve it from custom_components/ipcom/brand/)
//   timeout_ms   how long any single wait may take
//
// Prints one JSON object per line: {"event": ..., "seconds": ..., ...}. The last line has
// "event": "done" on success; any failure prints "event": "error" and exits non-zero.
// Login needs no typing: Home Assistant's trusted-networks provider bypasses the login page
// for 127.0.0.1, which is exactly what a newcomer opening the demo sees.

import { chromium } from "playwright-core";

const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const options = JSON.parse(process.argv[2] ?? "{}");
const timeout = options.timeout_ms ?? 60000;
const started = performance.now();
const elapsed = () => Number(((performance.now() - started) / 1000).toFixed(2));
const report = (event, fields = {}) =>
  console.log(JSON.stringify({ event, seconds: elapsed(), ...fields }));

// The frontend shows a splash and then "Loading data" until its websocket is connected and
// the first states and services have arrived; only then is the page worth reading.
function hassReady() {
  const hass = document.querySelector("home-assistant")?.hass;
  return Boolean(
    hass &&
      hass.connected &&
      hass.user &&
      Object.keys(hass.states ?? {}).length > 0 &&
      Object.keys(hass.services ?? {}).length > 0,
  );
}

function entityState(entityId) {
  return document.querySelector("home-assistant").hass.states[entityId]?.state ?? null;
}

async function run(page) {
  await page.goto(options.url, { waitUntil: "domcontentloaded", timeout });
  await page.waitForFunction(hassReady, null, { timeout, polling: 100 });
  report("frontend_ready", { url: page.url() });

  // Playwright's text locators pierce the frontend's (open) shadow roots.
  const missing = [];
  for (const name of options.names ?? []) {
    const locator = page.getByText(name, { exact: true }).first();
    try {
      await locator.waitFor({ state: "visible", timeout });
    } catch {
      missing.push(name);
    }
  }
  if (missing.length > 0) {
    throw new Error(`not on the page: ${missing.join(", ")}`);
  }
  report("names_visible", { count: (options.names ?? []).length });

  if (options.toggle) {
    const { entity_id: entityId, name } = options.toggle;
    const before = await page.evaluate(entityState, entityId);
    if (before !== "on" && before !== "off") {
      throw new Error(`${entityId} is ${before}, expected on or off before the click`);
    }
    // Note in the page when the click really happens (clicks are composed events, so one
    // inside the cards' shadow roots reaches the document), not when playwright returns.
    await page.evaluate(() => {
      document.addEventListener("click", () => (window.__e2eClickedAt = Date.now()), {
        capture: true,
        once: true,
      });
    });
    // A tile card toggles its light when its icon is clicked.
    const card = page.locator("hui-tile-card").filter({ hasText: name }).first();
    await card.locator("ha-tile-icon").first().click({ timeout });
    const clicked = performance.now();
    const clickedAt = await page.evaluate(() => window.__e2eClickedAt);
    await page.waitForFunction(
      ([id, previous]) =>
        document.querySelector("home-assistant").hass.states[id]?.state !== previous,
      [entityId, before],
      { timeout, polling: 20 },
    );
    const after = await page.evaluate(entityState, entityId);
    report("toggled", {
      entity_id: entityId,
      before,
      after,
      clicked_at_ms: clickedAt,
      click_to_state_ms: Math.round(performance.now() - clicked),
    });
  }

  if (options.screenshot) {
    // Let the card animations finish so the picture shows the settled dashboard.
    await page.waitForTimeout(500);
    await page.screenshot({ path: options.screenshot, fullPage: true });
    report("screenshot", { path: options.screenshot });
  }

  if (options.integrations_screenshot) {
    await page.goto(new URL("/config/integrations/dashboard", options.url).href, {
      waitUntil: "domcontentloaded",
      timeout,
    });
    await page.waitForFunction(hassReady, null, { timeout, polling: 100 });
    const icon = page.locator('img[src*="/brands/integration/ipcom/icon"]').first();
    await icon.waitFor({ state: "visible", timeout });
    // Visible is not loaded: a brand image that failed still takes its place on the card.
    await icon.evaluate((img) => img.decode().catch(() => undefined));
    const size = await icon.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
    if (size[0] === 0) {
      throw new Error(`the ipcom card's brand icon did not load: ${await icon.getAttribute("src")}`);
    }
    await page.screenshot({ path: options.integrations_screenshot });
    report("integrations_screenshot", {
      path: options.integrations_screenshot,
      brand_icon: size.join("x"),
    });
  }
}

const browser = await chromium.launch({
  executablePath: options.chromium ?? "/usr/bin/chromium",
  args: CHROMIUM_FLAGS,
  headless: true,
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1400 } });
  const page = await context.newPage();
  page.on("pageerror", (error) =>
    report("page_error", { message: String(error?.message ?? error), stack: error?.stack }),
  );
  page.on("console", (message) => {
    if (message.type() === "error") {
      report("console_error", { message: message.text() });
    }
  });
  await run(page);
} catch (error) {
  failed = true;
  report("error", { message: String(error?.message ?? error) });
} finally {
  await browser.close();
}
if (failed) {
  process.exitCode = 1;
} else {
  report("done");
}

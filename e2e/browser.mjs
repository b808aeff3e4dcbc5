// Drive Home Assistant's own frontend in headless Chromium, as a person at the browser would.
//
// Usage: node browser.mjs '<json>' with
//   mode         "dashboard" (the default) or "commands"
//   url          the page to open first, e.g. http://127.0.0.1:8123/ipcom-demo/0
//   timeout_ms   how long any single wait may take
//   failure_screenshot  optional: where to save a PNG of the page when something fails
//
// Mode "dashboard" runs to the end by itself:
//   names        every device name that must be visible on the page
//   toggle       {entity_id, name}: the light whose toggle is clicked
//   screenshot   where to save a PNG of the page once the toggle took effect
//   integrations_screenshot  optional: where to save a PNG of Settings > Devices & services
//                once the ipcom card shows its brand icon (Home Assistant 2026.3 and newer
//                serve it from custom_components/ipcom/brand/)
//
// Mode "commands" opens `url` (the integration's page), says "ready", then does one command per
// line of its standard input, a JSON object {"id": n, "do": ..., ...}, and answers each with
// {"event": "result", "id": n, ...} (a few say what they clicked and when, before the result,
// so that the caller can time what follows from the click). The commands:
//   add_subentry         {flow_type, fields, screenshot?}: the page's "Add <type>" button, the
//                        form filled with `fields` ({field name: value}), Submit, the dialog
//                        closed; waits until the page lists a sub-entry titled fields.name
//   switch_on            {entity_id}: the entity's more-info dialog, its toggle clicked; waits
//                        until the frontend shows it on, then closes the dialog
//   reconfigure_subentry {subentry_id, fields, expect}: the sub-entry's Configure button, the
//                        form checked against `expect` (what it must show prefilled), filled
//                        with `fields`, Submit, the dialog closed
//   delete_subentry      {subentry_id}: the sub-entry's menu, Delete, the confirmation; waits
//                        until the page no longer lists it
//   screenshot           {path}
//   quit
//
// Prints one JSON object per line: {"event": ..., "seconds": ..., ...}. The last line has
// "event": "done" on success; any failure prints "event": "error" (with the screenshot taken,
// if any) and exits non-zero.
// Login needs no typing: Home Assistant's trusted-networks provider bypasses the login page
// for 127.0.0.1, which is exactly what a newcomer opening the demo sees.

import readline from "node:readline";
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

// Runs in the page before its own scripts: finding elements in the frontend's (open) shadow
// roots by their properties, which playwright's selectors cannot see. A found element gets an
// attribute, and playwright's CSS selectors (which do pierce open shadow roots) take it from there.
function pageHelpers() {
  const all = (root, tag, found = []) => {
    for (const element of root.querySelectorAll("*")) {
      if (element.localName === tag) found.push(element);
      if (element.shadowRoot) all(element.shadowRoot, tag, found);
    }
    return found;
  };
  const read = (element, path) => path.split(".").reduce((value, key) => value?.[key], element);
  // The text a person sees in an element, its shadow roots included.
  const text = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return node.textContent;
    if (node.localName === "style" || node.localName === "script") return "";
    const parts = [...(node.shadowRoot?.childNodes ?? []), ...node.childNodes].map(text);
    return parts.join(" ");
  };
  window.__e2e = {
    all,
    first: (root, tag) => all(root, tag)[0] ?? null,
    // Mark every `tag` element with attribute = the value at `path`; whether one has `wanted`.
    mark(tag, attribute, path, wanted) {
      let seen = false;
      for (const element of all(document, tag)) {
        const value = read(element, path);
        if (value === undefined || value === null) continue;
        element.setAttribute(attribute, String(value));
        seen ||= wanted === undefined || String(value) === String(wanted);
      }
      return seen;
    },
    present: (tag, path, wanted) =>
      all(document, tag).some((element) => String(read(element, path)) === String(wanted)),
    // The open config flow dialog: its step, its form's values and errors.
    flow() {
      const dialog = all(document, "dialog-data-entry-flow").find((d) => d.shadowRoot);
      if (!dialog) return null;
      const root = dialog.shadowRoot;
      const shown = (tag) => {
        const element = window.__e2e.first(root, tag);
        return element && text(element).replace(/\s+/g, " ").trim().slice(0, 300);
      };
      const created = shown("step-flow-create-entry");
      if (created !== null) return { type: "create_entry", text: created };
      const aborted = shown("step-flow-abort");
      if (aborted !== null) return { type: "abort", text: aborted };
      const form = window.__e2e.first(root, "ha-form");
      if (!form) return { type: "loading" };
      const errors = form.error && Object.keys(form.error).length ? form.error : null;
      return { type: "form", data: form.data ?? {}, errors };
    },
  };
}

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

async function open(page, url) {
  await page.goto(url, { waitUntil: "domcontentloaded", timeout });
  await page.waitForFunction(hassReady, null, { timeout, polling: 100 });
}

// Click, and say when the press really began in the page, not when playwright returns: the
// pointer went down (a control may act on that already, before the click event). Pointer
// events are composed, so one inside the frontend's shadow roots reaches the document.
async function clickAt(page, locator) {
  await locator.scrollIntoViewIfNeeded({ timeout });
  await page.evaluate(() => {
    window.__e2eClickedAt = undefined;
    document.addEventListener("pointerdown", () => (window.__e2eClickedAt = Date.now()), {
      capture: true,
      once: true,
    });
  });
  await locator.click({ timeout });
  return (await page.evaluate(() => window.__e2eClickedAt)) ?? Date.now();
}

async function waitFor(page, what, fn, arg, polling = 50) {
  try {
    return await page.waitForFunction(fn, arg, { timeout, polling });
  } catch (error) {
    throw new Error(`${what}: not within ${timeout / 1000} s (${error.message.split("\n")[0]})`);
  }
}

// ---- Mode "dashboard"

async function runDashboard(page) {
  await open(page, options.url);
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
    // A tile card toggles its light when its icon is clicked.
    const card = page.locator("hui-tile-card").filter({ hasText: name }).first();
    const clickedAt = await clickAt(page, card.locator("ha-tile-icon").first());
    const clicked = performance.now();
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
    await open(page, new URL("/config/integrations/dashboard", options.url).href);
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

// ---- Mode "commands": the integration's page, its sub-entries and their flows

const FLOW = "dialog-data-entry-flow";

async function onIntegrationPage(page) {
  if (new URL(page.url()).pathname !== new URL(options.url).pathname) {
    await open(page, options.url);
  }
}

// The page's row of one sub-entry, found by its id.
async function subentryRow(page, subentryId) {
  await waitFor(
    page,
    `the integration's page listing sub-entry ${subentryId}`,
    (id) =>
      window.__e2e.mark(
        "ha-config-sub-entry-row",
        "data-e2e-subentry",
        "data.subEntry.subentry_id",
        id,
      ),
    subentryId,
    100,
  );
  return page.locator(`ha-config-sub-entry-row[data-e2e-subentry="${subentryId}"]`).first();
}

// Fill the open flow's form: each field's own input, typed into as a person would. Returns what
// the form showed before and holds after.
async function fillFlowForm(page, fields) {
  await waitFor(page, "the flow's form", () => window.__e2e.flow()?.type === "form", null);
  const before = (await page.evaluate(() => window.__e2e.flow())).data;
  for (const [name, value] of Object.entries(fields)) {
    await waitFor(
      page,
      `the form's field ${name}`,
      (field) => window.__e2e.mark("ha-selector", "data-e2e-field", "schema.name", field),
      name,
    );
    const input = page.locator(`${FLOW} ha-selector[data-e2e-field="${name}"] input`).first();
    await input.fill(String(value), { timeout });
  }
  const after = (await page.evaluate(() => window.__e2e.flow())).data;
  const wrong = Object.entries(fields).filter(
    ([name, value]) => String(after[name]) !== String(value),
  );
  if (wrong.length > 0) {
    const missed = JSON.stringify(Object.fromEntries(wrong));
    throw new Error(`the form did not take ${missed}: it holds ${JSON.stringify(after)}`);
  }
  return { before, after };
}

// Submit the open flow's form and wait for its outcome; a form shown again with errors fails.
async function submitFlow(page, command) {
  const submit = page.locator(`${FLOW} ha-dialog-footer ha-button[slot="primaryAction"]`).first();
  const submittedAt = await clickAt(page, submit);
  report("submitted", { id: command.id, at_ms: submittedAt });
  const handle = await waitFor(
    page,
    "the flow's answer to Submit",
    () => {
      const step = window.__e2e.flow();
      const answered = step && (step.type !== "form" || step.errors) && step.type !== "loading";
      return answered ? step : null;
    },
    null,
  );
  const step = await handle.jsonValue();
  if (step.type === "form") {
    const [errors, held] = [JSON.stringify(step.errors), JSON.stringify(step.data)];
    throw new Error(`the form refused the values: ${errors} (it held ${held})`);
  }
  return { submittedAt, step };
}

// Close the flow's dialog with the button its last step shows (Finish or Close).
async function closeFlow(page) {
  await page.locator(`${FLOW} ha-dialog-footer ha-button`).last().click({ timeout });
  await page.locator(`${FLOW} ha-dialog-footer`).waitFor({ state: "hidden", timeout });
}

const COMMANDS = {
  async add_subentry(page, command) {
    await onIntegrationPage(page);
    const flowType = command.flow_type;
    await waitFor(
      page,
      `the integration page's button to add a ${flowType}`,
      (type) => window.__e2e.mark("ha-button", "data-e2e-flow", "flowType", type),
      flowType,
      100,
    );
    const button = page.locator(`ha-button[data-e2e-flow="${flowType}"]`).first();
    const label = ((await button.textContent()) ?? "").replace(/\s+/g, " ").trim();
    await button.click({ timeout });
    const form = await fillFlowForm(page, command.fields);
    const { submittedAt, step } = await submitFlow(page, command);
    if (step.type !== "create_entry") {
      throw new Error(`the flow ended with ${step.type}, not a new sub-entry: ${step.text}`);
    }
    await closeFlow(page);
    const title = command.fields.name;
    await waitFor(
      page,
      `a sub-entry titled ${JSON.stringify(title)} on the page`,
      (name) => window.__e2e.present("ha-config-sub-entry-row", "data.subEntry.title", name),
      title,
    );
    const listed = Date.now();
    if (command.screenshot) {
      const row = page.locator("ha-config-sub-entry-row").filter({ hasText: title }).first();
      await row.scrollIntoViewIfNeeded({ timeout });
      await page.screenshot({ path: command.screenshot });
    }
    return {
      label,
      form: form.after,
      outcome: step.text,
      submitted_at_ms: submittedAt,
      submit_to_listed_ms: listed - submittedAt,
    };
  },

  async switch_on(page, command) {
    const entityId = command.entity_id;
    await waitFor(
      page,
      `${entityId} on or off in the frontend`,
      (id) =>
        ["on", "off"].includes(document.querySelector("home-assistant").hass.states[id]?.state),
      entityId,
    );
    const before = await page.evaluate(entityState, entityId);
    if (before !== "off") {
      throw new Error(`${entityId} is ${before} before the click, expected off`);
    }
    // What a tile or an entity row does when clicked: ask for the entity's more-info dialog.
    await page.evaluate((id) => {
      document.querySelector("home-assistant").dispatchEvent(
        new CustomEvent("hass-more-info", {
          detail: { entityId: id },
          bubbles: true,
          composed: true,
        }),
      );
    }, entityId);
    const toggle = page
      .locator("ha-more-info-dialog ha-state-control-toggle ha-control-switch")
      .first();
    await toggle.waitFor({ state: "visible", timeout });
    const clickedAt = await clickAt(page, toggle);
    report("clicked", { id: command.id, at_ms: clickedAt });
    await waitFor(
      page,
      `${entityId} on in the frontend after the click`,
      (id) => document.querySelector("home-assistant").hass.states[id]?.state === "on",
      entityId,
      20,
    );
    const shown = Date.now();
    await page.keyboard.press("Escape");
    await toggle.waitFor({ state: "hidden", timeout });
    return { before, after: "on", clicked_at_ms: clickedAt, click_to_state_ms: shown - clickedAt };
  },

  async reconfigure_subentry(page, command) {
    await onIntegrationPage(page);
    const row = await subentryRow(page, command.subentry_id);
    // The row's own buttons, not those of the device listed under it.
    const configure = row.locator('.sub-entry > ha-icon-button[slot="end"]').first();
    const label = await configure.evaluate((button) => button.label ?? "");
    await configure.click({ timeout });
    const form = await fillFlowForm(page, command.fields);
    const wrong = Object.entries(command.expect ?? {}).filter(
      ([name, value]) => String(form.before[name]) !== String(value),
    );
    if (wrong.length > 0) {
      const missed = JSON.stringify(Object.fromEntries(wrong));
      throw new Error(
        `the form was not prefilled with ${missed}: it showed ${JSON.stringify(form.before)}`,
      );
    }
    const { submittedAt, step } = await submitFlow(page, command);
    if (step.type !== "abort") {
      throw new Error(`the reconfigure flow ended with ${step.type}: ${step.text}`);
    }
    await closeFlow(page);
    return {
      label,
      prefilled: form.before,
      form: form.after,
      outcome: step.text,
      submitted_at_ms: submittedAt,
    };
  },

  async delete_subentry(page, command) {
    await onIntegrationPage(page);
    const row = await subentryRow(page, command.subentry_id);
    const menu = row.locator(".sub-entry > ha-dropdown");
    await menu.locator('ha-icon-button[slot="trigger"]').first().click({ timeout });
    await menu.locator('ha-dropdown-item[value="delete"]').first().click({ timeout });
    const confirm = page.locator('dialog-box ha-button[slot="primaryAction"]').first();
    await confirm.waitFor({ state: "visible", timeout });
    const confirmedAt = await clickAt(page, confirm);
    report("submitted", { id: command.id, at_ms: confirmedAt });
    await waitFor(
      page,
      `sub-entry ${command.subentry_id} gone from the page`,
      (id) => !window.__e2e.present("ha-config-sub-entry-row", "data.subEntry.subentry_id", id),
      command.subentry_id,
    );
    return { confirmed_at_ms: confirmedAt, confirm_to_gone_ms: Date.now() - confirmedAt };
  },

  async screenshot(page, command) {
    await page.screenshot({ path: command.path, fullPage: Boolean(command.full_page) });
    return { path: command.path };
  },
};

async function runCommands(page) {
  await open(page, options.url);
  report("ready", { url: page.url() });
  const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of input) {
    if (!line.trim()) continue;
    const command = JSON.parse(line);
    if (command.do === "quit") break;
    const handler = COMMANDS[command.do];
    if (!handler) {
      throw new Error(`unknown command ${command.do}`);
    }
    try {
      report("result", { id: command.id, do: command.do, ...(await handler(page, command)) });
    } catch (error) {
      error.message = `${command.do}: ${error.message}`;
      throw error;
    }
  }
  input.close();
}

// ---- Start, run, report

const browser = await chromium.launch({
  executablePath: options.chromium ?? "/usr/bin/chromium",
  args: CHROMIUM_FLAGS,
  headless: true,
});
let failed = false;
let page;
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1400 } });
  await context.addInitScript(pageHelpers);
  page = await context.newPage();
  page.on("pageerror", (error) =>
    report("page_error", { message: String(error?.message ?? error), stack: error?.stack }),
  );
  page.on("console", (message) => {
    if (message.type() === "error") {
      report("console_error", { message: message.text() });
    }
  });
  await (options.mode === "commands" ? runCommands(page) : runDashboard(page));
} catch (error) {
  failed = true;
  let screenshot;
  if (page && options.failure_screenshot) {
    try {
      await page.screenshot({ path: options.failure_screenshot, fullPage: true, timeout: 15000 });
      screenshot = options.failure_screenshot;
    } catch {
      // The page may be gone with the browser; the error says what went wrong anyway.
    }
  }
  report("error", { message: String(error?.message ?? error), screenshot });
} finally {
  await browser.close();
}
if (failed) {
  process.exitCode = 1;
} else {
  report("done");
}

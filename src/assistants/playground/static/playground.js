// The playground: assistants, threads with streamed runs, and a chat tab, over this server's own API.
//
// Rules this file keeps:
// * Everything shown is set with textContent (el() below). Model output, names and tool outputs are
//   untrusted: nothing is ever parsed as HTML.
// * Run streams come from the run's event log, never from a run created with stream=true: the run is
//   created, then `GET .../runs/{id}/events` is read. The events carry ids, so a dropped connection
//   or a page reload resumes with Last-Event-ID and misses nothing (the live run is kept in
//   sessionStorage together with the id of the last event it includes).
// * The API key is asked for on the first 401 and kept in sessionStorage (this tab only).

const KEY_STORAGE = "assistants.playground.key";
const LIVE_STORAGE = "assistants.playground.live";
const ACTIVE = new Set(["queued", "in_progress", "requires_action", "cancelling"]);
const TERMINAL_EVENTS = new Set(["thread.run.completed", "thread.run.failed", "thread.run.cancelled",
  "thread.run.incomplete", "thread.run.expired"]);

const $ = (id) => document.getElementById(id);

/** An element with attributes and children; strings become text nodes (never HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") {
      for (const [key, item] of Object.entries(value)) if (item !== undefined) node.dataset[key] = item;
    }
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function showError(error) {
  const box = $("error");
  if (!error) { box.hidden = true; box.textContent = ""; return; }
  box.textContent = error.message || String(error);
  box.hidden = false;
}

const time = (seconds) => seconds ? new Date(seconds * 1000).toLocaleTimeString() : "—";

// -- the API -------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.param = body?.error?.param;
  }
}

let keyPrompt = null;

/** Resolves once the user gave a key (one dialog however many calls are waiting). */
function askForKey() {
  keyPrompt ??= new Promise((resolve) => {
    const dialog = $("key-dialog");
    const form = $("key-form");
    form.onsubmit = (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY_STORAGE, form.elements.key.value.trim());
      form.reset();
      dialog.close();
      keyPrompt = null;
      resolve();
    };
    dialog.showModal();
  });
  return keyPrompt;
}

/** fetch() on this origin with the key; a 401 asks for a key and retries. Errors throw ApiError. */
async function request(method, path, { body, headers = {}, signal } = {}) {
  for (;;) {
    const key = sessionStorage.getItem(KEY_STORAGE);
    const response = await fetch(path, {
      method, signal,
      headers: { ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        ...(key ? { Authorization: `Bearer ${key}` } : {}), ...headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    if (response.status === 401) { await askForKey(); continue; }
    if (!response.ok) {
      let payload = null;
      try { payload = await response.json(); } catch { /* not JSON: keep the status */ }
      throw new ApiError(response.status, payload);
    }
    return response;
  }
}

const api = {
  get: async (path) => (await request("GET", path)).json(),
  post: async (path, body) => (await request("POST", path, { body: body ?? {} })).json(),
};

/** Server-sent events of a response, as {id, event, data} (the SSE spec's line rules). */
async function* sseEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { id: null, event: "message", data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();  // the unfinished tail (a lone "\r" at the end is finished by the next read)
    for (const line of lines) {
      if (line === "") {
        if (event.data.length) yield { id: event.id, event: event.event, data: event.data.join("\n") };
        event = { id: event.id, event: "message", data: [] };
        continue;
      }
      if (line.startsWith(":")) continue;  // comment (keepalive)
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") event.data.push(value);
      else if (field === "event") event.event = value;
      else if (field === "id") event.id = value;
    }
  }
}

// -- tabs ----------------------------------------------------------------------------------------

const VIEWS = { assistants: true, threads: true, chat: true };

function showTab(name) {
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  for (const button of document.querySelectorAll("#tabs button")) {
    button.classList.toggle("current", button.dataset.tab === name);
  }
  location.hash = name;
  // Another tab or the SDK may have changed things since: refresh what this view lists.
  const refresh = { assistants: [loadAssistants], threads: [loadAssistants, loadThreads], chat: [loadModels] };
  return Promise.all(refresh[name].map((load) => load()));
}

// -- models --------------------------------------------------------------------------------------

async function loadModels() {
  const models = (await api.get("/v1/models")).data;
  const ids = models.map((model) => model.id);
  $("model-ids").replaceChildren(...ids.map((id) => el("option", { value: id })));
  $("chat-model").replaceChildren(...ids.map((id) => el("option", { value: id }, id)));
  $("server-info").textContent = ids.length ? `model: ${ids[0]}` : "no model loaded";
}

// -- assistants ----------------------------------------------------------------------------------

const assistants = { items: [], editing: null };

async function loadAssistants() {
  assistants.items = (await api.get("/v1/assistants?limit=100")).data;
  $("assistant-list").replaceChildren(...assistants.items.map((assistant) => el("li", {},
    el("button", { type: "button", class: assistants.editing === assistant.id ? "current" : null,
      onclick: () => editAssistant(assistant) },
    el("strong", {}, assistant.name || "(unnamed)"), " ", el("small", {}, assistant.model, " · ", assistant.id)))));
  const select = $("run-assistant");
  const chosen = select.value;
  select.replaceChildren(...assistants.items.map((assistant) =>
    el("option", { value: assistant.id }, `${assistant.name || "(unnamed)"} · ${assistant.id}`)));
  if (assistants.items.some((assistant) => assistant.id === chosen)) select.value = chosen;
}

function editAssistant(assistant) {
  const form = $("assistant-form");
  assistants.editing = assistant?.id ?? null;
  form.elements.name.value = assistant?.name ?? "";
  form.elements.model.value = assistant?.model ?? "default";
  form.elements.instructions.value = assistant?.instructions ?? "";
  form.elements.temperature.value = assistant?.temperature ?? 1;
  form.elements.tools.value = JSON.stringify(assistant?.tools ?? [], null, 2);
  form.elements.response_format.value = JSON.stringify(assistant?.response_format ?? "auto");
  $("assistant-form-title").textContent = assistant ? `Edit ${assistant.id}` : "New assistant";
  $("assistant-save").textContent = assistant ? "Save" : "Create";
  $("assistant-saved").textContent = "";
  for (const button of document.querySelectorAll("#assistant-list button")) button.classList.remove("current");
  loadAssistants().catch(showError);
}

function parseJsonField(form, name) {
  try {
    return JSON.parse(form.elements[name].value);
  } catch (error) {
    throw new Error(`${name} is not valid JSON: ${error.message}`);
  }
}

async function saveAssistant(event) {
  event.preventDefault();
  const form = event.target;
  const body = {
    name: form.elements.name.value || null,
    model: form.elements.model.value,
    instructions: form.elements.instructions.value || null,
    temperature: form.elements.temperature.value === "" ? null : Number(form.elements.temperature.value),
    tools: parseJsonField(form, "tools"),
    response_format: parseJsonField(form, "response_format"),
  };
  const path = assistants.editing ? `/v1/assistants/${assistants.editing}` : "/v1/assistants";
  const saved = await api.post(path, body);
  editAssistant(saved);
  $("assistant-saved").textContent = `saved ${time(Math.floor(Date.now() / 1000))}`;
  $("run-assistant").value = saved.id;
}

// -- threads -------------------------------------------------------------------------------------

const threads = { current: null, lastListed: null };

const threadTitle = (thread) => thread.metadata?.title || thread.id;

async function loadThreads({ more = false } = {}) {
  const after = more && threads.lastListed ? `&after=${encodeURIComponent(threads.lastListed)}` : "";
  const page = await api.get(`/v1/threads?limit=20${after}`);
  const items = page.data.map((thread) => el("li", {},
    el("button", { type: "button", class: thread.id === threads.current ? "current" : null,
      dataset: { thread: thread.id }, onclick: () => openThread(thread.id).catch(showError) },
    el("strong", {}, threadTitle(thread)), " ", el("small", {}, time(thread.created_at)))));
  if (more) $("thread-list").append(...items);
  else $("thread-list").replaceChildren(...items);
  threads.lastListed = page.last_id ?? threads.lastListed;
  $("thread-more").hidden = !page.has_more;
}

function markCurrentThread() {
  for (const button of document.querySelectorAll("#thread-list button")) {
    button.classList.toggle("current", button.dataset.thread === threads.current);
  }
}

function newThread() {
  stopFollowing();
  threads.current = null;
  $("thread-title").textContent = "New thread";
  $("messages").replaceChildren();
  $("run-list").replaceChildren();
  $("run-details").replaceChildren(el("p", { class: "note" }, "No run yet."));
  markCurrentThread();
}

const messageText = (message) => message.content.map((part) =>
  part.type === "text" ? part.text.value : `[${part.type}]`).join("\n");

function messageNode(id, role, text, status) {
  return el("div", { class: `message ${role}`, dataset: { message: id, status } },
    el("div", { class: "role" }, role, status && status !== "completed" ? ` · ${status}` : ""),
    el("div", { class: "text" }, text));
}

/** The thread's messages from the server; those of the live run keep the text its events built. */
function renderMessages(messages) {
  const nodes = messages.map((message) => {
    const streamed = live.state?.messages[message.id];
    return streamed ? messageNode(message.id, streamed.role, streamed.text, streamed.status)
      : messageNode(message.id, message.role, messageText(message), message.status);
  });
  for (const [id, streamed] of Object.entries(live.state?.messages ?? {})) {
    if (!messages.some((message) => message.id === id)) {
      nodes.push(messageNode(id, streamed.role, streamed.text, streamed.status));
    }
  }
  $("messages").replaceChildren(...nodes);
  scrollDown($("messages"));
}

function scrollDown(box) { box.scrollTop = box.scrollHeight; }

async function loadMessages(threadId) {
  const messages = (await api.get(`/v1/threads/${threadId}/messages?order=asc&limit=100`)).data;
  if (threads.current === threadId) renderMessages(messages);
}

async function loadRuns(threadId) {
  const runs = (await api.get(`/v1/threads/${threadId}/runs?limit=10`)).data;
  if (threads.current !== threadId) return runs;
  $("run-list").replaceChildren(...runs.map((run) => el("li", {},
    el("button", { type: "button", onclick: () => showRun(threadId, run.id).catch(showError) },
      el("span", { class: `status ${run.status}` }, run.status), " ", el("small", {}, run.id)))));
  return runs;
}

async function openThread(threadId, { resume = true } = {}) {
  if (threads.current !== threadId) stopFollowing();
  threads.current = threadId;
  markCurrentThread();
  const thread = await api.get(`/v1/threads/${threadId}`);
  $("thread-title").textContent = threadTitle(thread);
  await loadMessages(threadId);
  const runs = await loadRuns(threadId);
  const latest = runs[0];
  if (!latest) {
    $("run-details").replaceChildren(el("p", { class: "note" }, "No run yet."));
  } else if (resume && ACTIVE.has(latest.status) && live.state?.runId !== latest.id) {
    follow(threadId, latest.id);  // opened while a run is going (another tab, the SDK): replay it all
  } else if (live.state?.runId !== latest.id) {
    await showRun(threadId, latest.id);
  }
}

async function send(event) {
  event.preventDefault();
  const form = event.target;
  const content = form.elements.content.value;
  const assistantId = form.elements.assistant_id.value;
  if (!assistantId) throw new Error("Create an assistant first (Assistants tab).");
  let threadId = threads.current;
  if (threadId === null) {
    const thread = await api.post("/v1/threads", {
      messages: [{ role: "user", content }], metadata: { title: content.slice(0, 60) } });
    threadId = thread.id;
    threads.current = threadId;
    $("thread-title").textContent = threadTitle(thread);
    loadThreads().catch(showError);
  } else {
    await api.post(`/v1/threads/${threadId}/messages`, { role: "user", content });
  }
  form.elements.content.value = "";
  const options = { assistant_id: assistantId, tool_choice: form.elements.tool_choice.value,
    parallel_tool_calls: form.elements.parallel_tool_calls.checked };
  const limit = form.elements.max_completion_tokens.value;
  if (limit) options.max_completion_tokens = Number(limit);
  const run = await api.post(`/v1/threads/${threadId}/runs`, options);
  follow(threadId, run.id);
  await Promise.all([loadMessages(threadId), loadRuns(threadId)]);
}

// -- the live run: its event stream, resumable -----------------------------------------------------

const live = {
  state: null,       // {threadId, runId, lastEventId, run, steps: {id: step}, messages: {id: {role, text, status}}}
  controller: null,  // aborts the fetch of the event stream
};

function saveLive() {
  if (live.state) sessionStorage.setItem(LIVE_STORAGE, JSON.stringify(live.state));
  else sessionStorage.removeItem(LIVE_STORAGE);
}

function stopFollowing() {
  live.controller?.abort();
  live.controller = null;
  live.state = null;
  saveLive();
  $("stop").disabled = true;
}

/** Follow a run's events from `state.lastEventId` (0: from its first event). */
function follow(threadId, runId, state = null) {
  stopFollowing();
  live.state = state ?? { threadId, runId, lastEventId: 0, run: null, steps: {}, messages: {} };
  saveLive();
  $("stop").disabled = false;
  const controller = new AbortController();
  live.controller = controller;
  readEvents(controller).catch((error) => {
    if (controller.signal.aborted) return;
    showError(error);
    stopFollowing();  // e.g. the run or its thread was deleted: nothing to resume after a reload
  });
}

async function readEvents(controller) {
  const state = live.state;
  const path = `/v1/threads/${state.threadId}/runs/${state.runId}/events`;
  for (let attempt = 0; attempt < 5 && !controller.signal.aborted; attempt += 1) {
    try {
      const headers = state.lastEventId ? { "Last-Event-ID": String(state.lastEventId) } : {};
      const response = await request("GET", path, { headers, signal: controller.signal });
      for await (const event of sseEvents(response)) {
        if (event.event === "done") return finish(controller);
        if (event.event === "error") { showError(new Error(JSON.parse(event.data).error.message)); continue; }
        applyEvent(event);
        attempt = 0;
      }
    } catch (error) {
      if (controller.signal.aborted || error instanceof ApiError) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));  // dropped: resume from the last id
  }
  if (!controller.signal.aborted) throw new Error("The run's event stream kept failing.");
}

function applyEvent(event) {
  const state = live.state;
  const data = JSON.parse(event.data);
  if (event.event.startsWith("thread.run.step.")) {
    if (event.event !== "thread.run.step.delta") state.steps[data.id] = data;
  } else if (event.event.startsWith("thread.run.")) {
    state.run = data;
  } else if (event.event === "thread.message.delta") {
    const message = state.messages[data.id] ??= { role: "assistant", text: "", status: "in_progress" };
    for (const part of data.delta.content ?? []) {
      if (part.type === "text" && part.text?.value) message.text += part.text.value;
    }
    updateMessageNode(data.id, message);
  } else if (event.event.startsWith("thread.message.")) {
    // created / in_progress / completed / incomplete carry the whole message
    state.messages[data.id] = { role: data.role, text: messageText(data), status: data.status };
    updateMessageNode(data.id, state.messages[data.id]);
  }
  state.lastEventId = Number(event.id ?? state.lastEventId);
  saveLive();
  if (!event.event.startsWith("thread.message.delta")) renderRun(state.run, Object.values(state.steps));
}

function updateMessageNode(id, message) {
  if (threads.current !== live.state.threadId) return;
  const box = $("messages");
  const node = box.querySelector(`[data-message="${CSS.escape(id)}"]`);
  const fresh = messageNode(id, message.role, message.text, message.status);
  if (node) node.replaceWith(fresh); else box.append(fresh);
  scrollDown(box);
}

async function finish(controller) {
  const { threadId, runId } = live.state;
  live.controller = null;
  live.state = null;
  saveLive();
  $("stop").disabled = true;
  if (controller.signal.aborted || threads.current !== threadId) return;
  await Promise.all([loadMessages(threadId), loadRuns(threadId), showRun(threadId, runId)]);
}

async function stopRun() {
  const { threadId, runId } = live.state ?? {};
  if (!runId) return;
  try {
    await api.post(`/v1/threads/${threadId}/runs/${runId}/cancel`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 400)) throw error;  // already ended
  }
}

// -- run details ---------------------------------------------------------------------------------

async function showRun(threadId, runId) {
  const [run, steps] = await Promise.all([api.get(`/v1/threads/${threadId}/runs/${runId}`),
    api.get(`/v1/threads/${threadId}/runs/${runId}/steps?order=asc&limit=100`)]);
  if (threads.current === threadId) renderRun(run, steps.data);
}

function seconds(from, to) {
  return from && to ? `${to - from} s` : "—";
}

function definitionList(pairs) {
  return el("dl", {}, pairs.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value ?? "—")]));
}

function renderRun(run, steps) {
  const box = $("run-details");
  if (!run) { box.replaceChildren(el("p", { class: "note" }, "Starting…")); return; }
  const usage = run.usage;
  const cached = usage?.prompt_tokens_details?.cached_tokens;
  const ended = run.completed_at || run.cancelled_at || run.failed_at;
  const parts = [
    el("p", {}, el("span", { id: "run-status", class: `status ${run.status}` }, run.status), " ",
      el("small", { id: "run-id" }, run.id)),
    definitionList([
      ["model", run.model],
      ["created", time(run.created_at)],
      ["queued for", seconds(run.created_at, run.started_at)],
      ["ran for", seconds(run.started_at, ended)],
      ["prompt tokens", usage ? String(usage.prompt_tokens) + (cached !== undefined ? ` (${cached} cached)` : "") : null],
      ["completion tokens", usage ? String(usage.completion_tokens) : null],
      ["max completion", run.max_completion_tokens === null ? "none" : String(run.max_completion_tokens)],
    ]),
  ];
  if (run.incomplete_details?.reason) parts.push(el("p", { class: "note" }, `incomplete: ${run.incomplete_details.reason}`));
  if (run.last_error) parts.push(el("p", { class: "run-error" }, `${run.last_error.code}: ${run.last_error.message}`));
  if (run.status === "requires_action" && run.required_action) parts.push(toolOutputsForm(run));
  parts.push(el("h3", {}, "Steps"), el("ol", { class: "steps" }, steps.map(stepNode)));
  box.replaceChildren(...parts);
}

function stepNode(step) {
  const details = step.step_details;
  const calls = details.type === "tool_calls" ? details.tool_calls.map((call) => el("div", { class: "tool-call" },
    el("code", {}, call.function.name), el("pre", {}, call.function.arguments),
    el("div", { class: "note" }, "output:"), el("pre", { class: "tool-output" }, call.function.output ?? "(pending)"))) : [];
  const what = details.type === "message_creation" ? `message ${details.message_creation.message_id}` : "tool calls";
  return el("li", { dataset: { step: step.id } }, el("span", { class: `status ${step.status}` }, step.status), " ", what, calls);
}

function toolOutputsForm(run) {
  const calls = run.required_action.submit_tool_outputs.tool_calls;
  const form = el("form", { id: "tool-outputs", class: "tool-outputs" },
    el("h3", {}, "Requires action"),
    calls.map((call) => el("label", {}, el("code", {}, call.function.name), el("pre", {}, call.function.arguments),
      el("textarea", { name: call.id, rows: 2, placeholder: "output for this call", required: true }))),
    el("button", { type: "submit" }, "Submit outputs"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const tool_outputs = calls.map((call) => ({ tool_call_id: call.id, output: form.elements[call.id].value }));
    form.querySelector("button").disabled = true;
    api.post(`/v1/threads/${run.thread_id}/runs/${run.id}/submit_tool_outputs`, { tool_outputs })
      .then(() => { if (live.state?.runId !== run.id) follow(run.thread_id, run.id); })
      .catch((error) => { form.querySelector("button").disabled = false; showError(error); });
  });
  return form;
}

// -- chat ----------------------------------------------------------------------------------------

const CHAT_STORAGE = "assistants.playground.chat";
const chat = { messages: JSON.parse(sessionStorage.getItem(CHAT_STORAGE) || "[]"), controller: null };

function renderChat(streaming = null) {
  sessionStorage.setItem(CHAT_STORAGE, JSON.stringify(chat.messages));  // a chat is not stored server-side
  const nodes = chat.messages.map((message, index) => messageNode(`chat-${index}`, message.role, message.content));
  if (streaming !== null) nodes.push(messageNode("chat-live", "assistant", streaming, "in_progress"));
  $("chat-messages").replaceChildren(...nodes);
  scrollDown($("chat-messages"));
}

async function sendChat(event) {
  event.preventDefault();
  const form = event.target;
  chat.messages.push({ role: "user", content: form.elements.content.value });
  form.elements.content.value = "";
  const system = $("chat-system").value;
  const body = { model: $("chat-model").value, stream: true, stream_options: { include_usage: true },
    messages: [...(system ? [{ role: "system", content: system }] : []), ...chat.messages] };
  if ($("chat-max-tokens").value) body.max_tokens = Number($("chat-max-tokens").value);
  const controller = new AbortController();
  chat.controller = controller;
  $("chat-send").disabled = true;
  $("chat-stop").disabled = false;
  $("chat-stats").textContent = "";
  let text = "";
  let finish = null;
  renderChat(text);
  try {
    const response = await request("POST", "/v1/chat/completions", { body, signal: controller.signal });
    for await (const frame of sseEvents(response)) {
      if (frame.data === "[DONE]") break;
      const chunk = JSON.parse(frame.data);
      if (chunk.error) throw new Error(chunk.error.message);
      for (const choice of chunk.choices ?? []) {
        text += choice.delta?.content ?? "";
        finish = choice.finish_reason ?? finish;
      }
      if (chunk.usage) $("chat-stats").textContent = `${chunk.usage.prompt_tokens} prompt + ${chunk.usage.completion_tokens} completion tokens`;
      $("chat-messages").lastChild.querySelector(".text").textContent = text;
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
    finish = "stopped";
  } finally {
    chat.controller = null;
    $("chat-send").disabled = false;
    $("chat-stop").disabled = true;
    chat.messages.push({ role: "assistant", content: text });
    renderChat();
    if (finish) $("chat-stats").textContent = `${$("chat-stats").textContent} · ${finish}`.replace(/^ · /, "");
  }
}

// -- start ---------------------------------------------------------------------------------------

function on(id, type, handler) {
  $(id).addEventListener(type, (event) => {
    showError(null);
    Promise.resolve(handler(event)).catch(showError);
  });
}

async function start() {
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab).catch(showError));
  }
  on("key-button", "click", () => askForKey().then(() => Promise.all([loadModels(), loadAssistants(), loadThreads()])));
  on("assistant-new", "click", () => editAssistant(null));
  on("assistant-form", "submit", saveAssistant);
  on("thread-new", "click", newThread);
  on("thread-more", "click", () => loadThreads({ more: true }));
  on("composer", "submit", send);
  on("stop", "click", stopRun);
  on("chat-composer", "submit", sendChat);
  on("chat-stop", "click", () => chat.controller?.abort());
  on("chat-clear", "click", () => { chat.messages = []; renderChat(); });

  for (const form of [$("composer"), $("chat-composer")]) {
    form.elements.content.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
    });
  }
  renderChat();

  const saved = JSON.parse(sessionStorage.getItem(LIVE_STORAGE) || "null");
  const tab = saved ? "threads" : (location.hash.slice(1) || "assistants");
  await Promise.all([loadModels().catch(showError), showTab(Object.hasOwn(VIEWS, tab) ? tab : "assistants")]);
  if (saved) {
    // A reload mid-run: show the text its events built so far, then resume after the last one.
    threads.current = saved.threadId;
    live.state = saved;
    await openThread(saved.threadId, { resume: false });
    follow(saved.threadId, saved.runId, saved);
    renderRun(saved.run, Object.values(saved.steps));
  }
}

start().catch(showError);

// The softphone: every phone on the page shows its current call, rings, keypad, speech box and transcript.
// It only talks to /simulator/api/* (the simulator); the simulator talks to the support line like Twilio does.
"use strict";

const TEXT = {
  en: {
    title: "Contact centre on a laptop", sound: "Sound (speech synthesis)",
    intro: "Call the support line from your phone below, press keys or say words, wait in the queue or ask for a callback. When the worker calls back, the agent's phone and then yours ring here: answer both. While you wait in the queue, the worker rings a free agent: answer their phone and press 1 to take your call. When we call you back, press 9 before the agent comes on to never be called by us again; a web request shows its code under Text messages.",
    your_phone: "Your phone", your_number: "Your number", call: "Call", agents: "Agents' phones", queues: "Queues",
    messages: "Text messages", off_shift: "off shift", no_agents: "No agents yet: add one with “ivr agent add NAME PHONE”.",
    answer: "Answer", voicemail: "Let voicemail answer", decline: "Decline", say: "Say", hangup: "Hang up",
    say_placeholder: "Type what you would say",
    idle: "Idle", ringing_in: "Incoming call from {from}", calling: "Calling {to}…", in_call: "In a call with {peer}",
    listening: "Listening: press keys{speech}", listening_speech: " or say something", in_queue: "Waiting in queue {queue} (position {position})",
    talking: "Talking with {peer}", ended: "Call ended: {status}", heard: "🔊", pressed: "You pressed", said: "You said",
    empty_queue: "(empty)", no_messages: "(none)",
  },
  fa: {
    title: "مرکز تماس روی لپ‌تاپ", sound: "صدا (تبدیل متن به گفتار)",
    intro: "از گوشی خود در پایین با خط پشتیبانی تماس بگیرید، کلید بزنید یا چیزی بگویید، در صف بمانید یا درخواست تماس برگشتی بدهید. وقتی سامانه تماس می‌گیرد، اول گوشی کارشناس و بعد گوشی شما اینجا زنگ می‌خورد: هر دو را جواب دهید. وقتی در صف هستید، سامانه با کارشناس آزاد تماس می‌گیرد: گوشی او را جواب دهید و ۱ را بزنید تا به شما وصل شود. وقتی با شما تماس می‌گیریم، پیش از وصل شدن کارشناس ۹ را بزنید تا دیگر هرگز با شما تماس نگیریم؛ کد درخواست وب در پیامک‌ها دیده می‌شود.",
    your_phone: "گوشی شما", your_number: "شمارهٔ شما", call: "تماس با", agents: "گوشی کارشناسان", queues: "صف‌ها",
    messages: "پیامک‌ها", off_shift: "خارج از شیفت", no_agents: "هنوز کارشناسی نیست: با «ivr agent add NAME PHONE» اضافه کنید.",
    answer: "پاسخ", voicemail: "پیغام‌گیر پاسخ دهد", decline: "رد تماس", say: "بگو", hangup: "قطع تماس",
    say_placeholder: "آنچه می‌گویید را بنویسید",
    idle: "آزاد", ringing_in: "تماس ورودی از {from}", calling: "در حال تماس با {to}…", in_call: "در تماس با {peer}",
    listening: "در انتظار کلید{speech}", listening_speech: " یا گفتار", in_queue: "در صف {queue} (نوبت {position})",
    talking: "در حال گفتگو با {peer}", ended: "تماس پایان یافت: {status}", heard: "🔊", pressed: "کلید زدید", said: "گفتید",
    empty_queue: "(خالی)", no_messages: "(هیچ)",
  },
};

let ui = localStorage.getItem("softphone-ui") || document.body.dataset.defaultLanguage || "en";
if (!TEXT[ui]) ui = "en";
const spoken = new Set();
let firstState = true;

function t(key, values) {
  let text = (TEXT[ui] && TEXT[ui][key]) || TEXT.en[key] || key;
  // Phone numbers are isolated left-to-right so "+98..." stays whole inside Persian sentences.
  for (const [k, v] of Object.entries(values || {})) {
    text = text.replace("{" + k + "}", String(v).startsWith("+") ? "\u2066" + v + "\u2069" : v);
  }
  return text;
}

function applyLanguage() {
  document.documentElement.lang = ui;
  document.documentElement.dir = ui === "fa" ? "rtl" : "ltr";
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  document.querySelectorAll("[data-t-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.tPlaceholder); });
}

async function api(path, body) {
  const response = await fetch("/simulator/api/" + path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
  });
  return response.ok ? response.json() : null;
}

function phoneNumber(card) {
  return card.id === "my-phone" ? document.getElementById("from").value.trim() : card.dataset.phone;
}

function setUpCard(card) {
  card.appendChild(document.getElementById("phone-body").content.cloneNode(true));
  card.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || !card.contains(button)) return;
    const sid = card.dataset.sid;
    if (button.dataset.key && sid) api(`calls/${sid}/press`, { digits: button.dataset.key });
    const action = button.dataset.action;
    if (action === "answer" || action === "voicemail") {
      api(`calls/${card.dataset.ringing}/answer`, { machine: action === "voicemail" });
    } else if (action === "decline") {
      api(`calls/${card.dataset.ringing}/decline`);
    } else if (action === "hangup" && sid) {
      api(`calls/${sid}/hangup`);
    }
  });
  card.querySelector("form.speech").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = event.target.elements.words;
    if (card.dataset.sid && input.value.trim()) api(`calls/${card.dataset.sid}/speak`, { text: input.value });
    input.value = "";
  });
}

function describe(call) {
  if (call.status === "ringing" && call.direction === "inbound") return t("calling", { to: call.to });
  if (call.bridged_to) return t("talking", { peer: call.peer });
  if (call.queue) return t("in_queue", { queue: call.queue, position: call.position || "…" });
  if (call.listening) {
    const speech = (call.listening.input || []).includes("speech") ? t("listening_speech") : "";
    return t("listening", { speech });
  }
  if (["completed", "busy", "no-answer", "failed", "canceled"].includes(call.status)) return t("ended", { status: call.status });
  return t("in_call", { peer: call.peer });
}

function speak(call, index, line) {
  const key = call.sid + ":" + index;
  if (spoken.has(key)) return;
  spoken.add(key);
  if (firstState || !document.getElementById("sound").checked) return;
  try {
    if (line.kind === "say" && window.speechSynthesis) {
      const utterance = new SpeechSynthesisUtterance(line.text);
      utterance.lang = line.language || "en-US";
      window.speechSynthesis.speak(utterance);
    } else if (line.kind === "play" && line.url) {
      new Audio(line.url).play().catch(() => {});
    }
  } catch (error) { /* a browser without audio still shows the transcript */ }
}

function render(card, state) {
  const number = phoneNumber(card);
  const mine = state.calls.filter((c) => c.person === number);
  const live = mine.filter((c) => !["completed", "busy", "no-answer", "failed", "canceled"].includes(c.status));
  const ringing = live.find((c) => c.status === "ringing" && c.direction !== "inbound");
  const current = live.find((c) => c !== ringing) || null;
  const shown = current || ringing || mine[mine.length - 1] || null;
  card.dataset.sid = current ? current.sid : "";
  card.dataset.ringing = ringing ? ringing.sid : "";
  card.dataset.state = ringing ? "ringing" : current ? (current.bridged_to ? "talking" : current.queue ? "queued" : "in-call") : "idle";
  card.dataset.listening = current && current.listening ? "1" : "";
  card.classList.toggle("is-ringing", Boolean(ringing));
  card.querySelector(".status").textContent = current ? describe(current)
    : ringing ? t("ringing_in", { from: ringing.from }) : shown ? describe(shown) : t("idle");
  const ringBox = card.querySelector(".ringing");
  ringBox.hidden = !ringing;
  if (ringing) card.querySelector(".ring-text").textContent = t("ringing_in", { from: ringing.from });
  const list = card.querySelector(".transcript");
  const lines = shown ? shown.lines : [];
  if (list.dataset.sid !== (shown ? shown.sid : "") || list.childElementCount !== lines.length) {
    list.dataset.sid = shown ? shown.sid : "";
    list.replaceChildren(...lines.map((line) => {
      const item = document.createElement("li");
      item.className = "line-" + line.kind;
      if (line.language) item.lang = line.language.slice(0, 2);
      item.dir = "auto";
      const label = { say: t("heard"), play: "♪", pressed: t("pressed"), said: t("said") }[line.kind];
      item.textContent = (label ? label + " " : "") + line.text;
      return item;
    }));
    list.scrollTop = list.scrollHeight;
  }
  if (current) current.lines.forEach((line, index) => speak(current, index, line));
}

function renderSide(state) {
  const queues = document.getElementById("queues");
  const entries = Object.entries(state.queues);
  queues.replaceChildren(...(entries.length ? entries : [["general", []]]).map(([name, sids]) => {
    const item = document.createElement("li");
    const callers = sids.map((sid) => (state.calls.find((c) => c.sid === sid) || {}).from).filter(Boolean);
    item.textContent = `${name}: ${callers.length ? callers.join(", ") : t("empty_queue")}`;
    item.dir = "auto";
    return item;
  }));
  const messages = document.getElementById("messages");
  messages.replaceChildren(...(state.messages.length ? state.messages : [null]).map((m) => {
    const item = document.createElement("li");
    item.textContent = m ? `${m.to}: ${m.body}` : t("no_messages");
    item.dir = "auto";
    return item;
  }));
}

async function poll() {
  try {
    const response = await fetch("/simulator/api/state", { cache: "no-store" });
    if (response.ok) {
      const state = await response.json();
      document.querySelectorAll("section.phone").forEach((card) => render(card, state));
      renderSide(state);
      firstState = false;
    }
  } catch (error) { /* the server restarted: try again */ }
  setTimeout(poll, 400);
}

document.querySelectorAll("section.phone").forEach(setUpCard);
document.querySelectorAll("button.call-line").forEach((button) => {
  button.addEventListener("click", () => {
    if (window.speechSynthesis) window.speechSynthesis.cancel();
    api("calls", { from: document.getElementById("from").value.trim(), to: button.dataset.to });
  });
});
document.getElementById("ui-en").addEventListener("click", () => { ui = "en"; localStorage.setItem("softphone-ui", ui); applyLanguage(); });
document.getElementById("ui-fa").addEventListener("click", () => { ui = "fa"; localStorage.setItem("softphone-ui", ui); applyLanguage(); });
applyLanguage();
poll();

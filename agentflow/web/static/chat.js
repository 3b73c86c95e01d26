// The chat page: polls the conversation's state and renders it.
// Everything from the server is put into the page with textContent, never as HTML.
"use strict";
(() => {
  const root = document.getElementById("chat");
  const log = document.getElementById("log");
  const activity = document.getElementById("activity");
  const errorLine = document.getElementById("error");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const button = document.getElementById("send");
  const { stateUrl, sendUrl, token } = root.dataset;

  const FAST = 500; // while the agent works
  const WAITING = 2000; // while a human decides
  const IDLE = 10000; // nothing pending: other tabs may still write
  let lastRendered = "";
  let userMessages = 0;
  let expected = 0; // user messages the server should show once our send lands
  let sentAt = 0;
  // A message sent while an approval is pending waits in the workflow until the turn ends;
  // poll fast for a while only, then at the pace of what the server says is going on.
  const SENDING_FOR = 15000;
  let timer = null;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function renderCard(card) {
    const node = el("article", "card");
    if (card.badge) node.append(el("span", "badge", card.badge));
    node.append(el("h3", "", card.title));
    const list = el("dl");
    for (const [key, value] of card.fields) list.append(el("dt", "", key), el("dd", "", value));
    node.append(list);
    for (const note of card.notes) node.append(el("p", "note", note));
    return node;
  }

  function renderApproval(item) {
    const node = el("div", "approval");
    node.dataset.status = item.status;
    if (item.status === "pending") {
      const who = item.approvers.join(" or ");
      node.append(el("strong", "", `Waiting for your manager's approval (${who}).`));
      if (item.reasons.length) node.append(el("p", "", "Why: " + item.reasons.join("; ")));
    } else {
      const by = item.approver ? ` by ${item.approver}` : "";
      node.append(el("strong", "", `${item.status[0].toUpperCase()}${item.status.slice(1)}${by}.`));
      if (item.reason) node.append(el("p", "", item.reason));
    }
    return node;
  }

  function renderItem(item) {
    switch (item.kind) {
      case "user":
      case "agent":
        return el("div", `msg ${item.kind}`, item.text);
      case "error":
        return el("div", "msg error", item.text);
      case "tool": {
        const node = el("div", "tool", `${item.tool}(${item.arguments})`);
        node.dataset.status = item.status;
        if (item.error) node.append(el("span", "error", item.error));
        return node;
      }
      case "cards": {
        const node = el("div", "cards");
        node.dataset.tool = item.tool;
        for (const card of item.cards) node.append(renderCard(card));
        return node;
      }
      case "approval":
        return renderApproval(item);
      default:
        return el("div", "msg agent", JSON.stringify(item));
    }
  }

  function render(state) {
    const snapshot = JSON.stringify(state.items);
    if (snapshot !== lastRendered) {
      lastRendered = snapshot;
      log.replaceChildren(...state.items.map(renderItem));
      log.lastElementChild?.scrollIntoView({ block: "end" });
    }
    userMessages = state.user_messages;
    const sending = userMessages < expected && Date.now() - sentAt < SENDING_FOR;
    activity.textContent = sending && !state.activity ? "Sending…" : state.activity;
    root.dataset.busy = String(state.busy || sending);
    root.dataset.waiting = String(state.waiting.length > 0);
    return state.busy || sending ? FAST : state.waiting.length ? WAITING : IDLE;
  }

  function showError(message) {
    errorLine.hidden = !message;
    errorLine.textContent = message || "";
  }

  async function refresh() {
    clearTimeout(timer);
    let next = WAITING;
    try {
      const response = await fetch(stateUrl, { headers: { Accept: "application/json" } });
      const body = await response.json();
      if (response.ok) {
        showError("");
        next = render(body);
      } else {
        showError(body.error || `The conversation cannot be read (${response.status}).`);
      }
    } catch (err) {
      showError("The server cannot be reached; retrying…");
    }
    timer = setTimeout(refresh, next);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value;
    button.disabled = true;
    try {
      const response = await fetch(sendUrl, {
        method: "POST",
        body: new URLSearchParams({ text, token }),
      });
      const body = await response.json();
      if (response.ok) {
        input.value = "";
        expected = userMessages + 1;
        sentAt = Date.now();
        showError("");
      } else {
        showError(body.error || `Not sent (${response.status}).`);
      }
    } catch (err) {
      showError("The server cannot be reached; the message was not sent.");
    } finally {
      button.disabled = false;
      refresh();
    }
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  refresh();
})();

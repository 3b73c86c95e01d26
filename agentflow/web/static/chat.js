// The chat page: follows the conversation's event stream (server push) and renders each view.
// Everything from the server is put into the page with textContent, never as HTML.
"use strict";
(() => {
  const root = document.getElementById("chat");
  const log = document.getElementById("log");
  const activity = document.getElementById("activity");
  const notice = document.getElementById("notice");
  const announce = document.getElementById("announce");
  const errorLine = document.getElementById("error");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const button = document.getElementById("send");
  const { stateUrl, eventsUrl, sendUrl, token } = root.dataset;

  const POLL = 2000; // only without EventSource
  let lastRendered = "";
  let userMessages = 0;
  let expected = 0; // user messages the server should show once our send lands
  let sentAt = 0;
  const SENDING_FOR = 15000;
  let lastState = null;
  let decidedSeen = null; // decided approvals already on the page (null: first view)
  let lastAnnounced = null;
  let partial = null; // the model's text as it is written: {call, text}, until the view has it

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

  function decidedText(item) {
    const by = item.approver ? ` by ${item.approver}` : "";
    return `${item.status[0].toUpperCase()}${item.status.slice(1)}${by}.`;
  }

  function renderApproval(item) {
    const node = el("div", "approval");
    node.dataset.status = item.status;
    if (item.status === "pending") {
      const who = item.approvers.join(" or ");
      node.append(el("strong", "", `Waiting for your manager's approval (${who}).`));
      const first = item.approvers[0] || "your manager";
      node.append(el("p", "", `I'll let you know here when ${first} decides.`));
      if (item.reasons.length) node.append(el("p", "", "Why: " + item.reasons.join("; ")));
    } else {
      node.append(el("strong", "", decidedText(item)));
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

  // A decision that arrives while the page is open is told in a notice, not only in the log.
  function noticeDecisions(items) {
    const decided = items.filter((item) => item.kind === "approval" && item.status !== "pending");
    if (decidedSeen !== null && decided.length > decidedSeen) {
      const latest = decided[decided.length - 1];
      const why = latest.reason ? `: ${latest.reason}` : "";
      notice.textContent =
        latest.status === "expired"
          ? "Your request expired: nobody decided in time."
          : `${latest.approver || "Your manager"} ${latest.status} your request${why}.`;
      notice.dataset.status = latest.status;
      notice.hidden = false;
    }
    decidedSeen = decided.length;
  }

  // Screen readers hear each new answer once, not the whole log again.
  function announceLatest(items) {
    const answers = items.filter((item) => item.kind === "agent" || item.kind === "error");
    const latest = answers.length ? answers[answers.length - 1].text : "";
    if (lastAnnounced !== null && latest && latest !== lastAnnounced) announce.textContent = latest;
    lastAnnounced = latest;
  }

  // The words of the model call under way, in a bubble that grows after the log. It goes once
  // the view holds the message they begin (or the turn is over); the view then shows it whole.
  function showPartial() {
    log.querySelector(".msg.partial")?.remove();
    if (!partial || !partial.text || !lastState || !lastState.busy) return;
    const node = el("div", "msg agent partial", partial.text);
    node.setAttribute("aria-busy", "true");
    log.append(node);
    node.scrollIntoView({ block: "end" });
  }

  function arrived(items) {
    return (
      partial &&
      items.some((item) => item.kind === "agent" && item.text.startsWith(partial.text.trimEnd()))
    );
  }

  function render(state) {
    lastState = state;
    const snapshot = JSON.stringify(state.items);
    if (snapshot !== lastRendered) {
      lastRendered = snapshot;
      if (arrived(state.items)) partial = null;
      log.replaceChildren(...state.items.map(renderItem));
      log.lastElementChild?.scrollIntoView({ block: "end" });
      noticeDecisions(state.items);
      announceLatest(state.items);
    }
    if (!state.busy) partial = null;
    showPartial();
    userMessages = state.user_messages;
    const sending = userMessages < expected && Date.now() - sentAt < SENDING_FOR;
    activity.textContent = sending && !state.activity ? "Sending…" : state.activity;
    root.dataset.busy = String(state.busy || sending);
    root.dataset.waiting = String(state.waiting.length > 0);
  }

  // A send error stays until the employee's next action (typing, sending); the connection's
  // own trouble is shown as activity and clears itself once the stream is back.
  function showError(message) {
    errorLine.hidden = !message;
    errorLine.textContent = message || "";
  }

  function connection(problem) {
    root.dataset.connection = problem ? "lost" : "ok";
    if (problem) activity.textContent = problem;
    else if (lastState) render(lastState);
  }

  async function fetchState() {
    try {
      const response = await fetch(stateUrl, { headers: { Accept: "application/json" } });
      const body = await response.json();
      if (response.ok) {
        render(body);
        connection("");
      } else {
        connection(body.error || `The conversation cannot be read (${response.status}).`);
      }
    } catch (err) {
      connection("The server cannot be reached; retrying…");
    }
  }

  function follow() {
    if (!window.EventSource) {
      const poll = async () => {
        await fetchState();
        setTimeout(poll, POLL);
      };
      poll();
      return;
    }
    const stream = new EventSource(eventsUrl);
    stream.onmessage = (event) => {
      render(JSON.parse(event.data));
      connection("");
    };
    stream.addEventListener("problem", (event) => connection(JSON.parse(event.data).error));
    stream.addEventListener("text", (event) => {
      partial = JSON.parse(event.data);
      showPartial();
    });
    stream.onerror = () => {
      if (stream.readyState === EventSource.CLOSED) {
        // Refused outright (signed out, not found): say why, once.
        fetchState();
      } else {
        connection("Reconnecting…");
      }
    };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value;
    showError("");
    notice.hidden = true;
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(sendUrl, {
        method: "POST",
        body: new URLSearchParams({ text, token }),
      });
      let body = {};
      try {
        body = await response.json();
      } catch (err) {
        body = {};
      }
      if (response.ok) {
        input.value = "";
        expected = userMessages + 1;
        sentAt = Date.now();
        if (lastState) render(lastState);
      } else {
        showError(body.error || `Not sent (${response.status}).`);
      }
    } catch (err) {
      showError("The server cannot be reached; the message was not sent.");
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
      input.focus();
    }
  });

  input.addEventListener("input", () => showError(""));
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  fetchState();
  follow();
  input.focus();
})();

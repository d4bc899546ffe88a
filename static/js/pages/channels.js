// Channels (admins): where alerts go.  A Feishu/Lark custom bot or a signed JSON webhook,
// made with a name, a URL and an optional secret (write-only: never shown again), a test
// message with what came of it, the delivery log, and delete.

import { api } from "../api.js";
import { h, replace, message, empty, ago, badge } from "../dom.js";

export async function render(page, ctx) {
  page.append(h("div", { class: "page-head" }, h("h1", {}, "Channels")));
  if (!ctx.can("admin")) {
    page.append(message("info", "Channels are managed by admins."));
    return null;
  }
  const list = h("div", { class: "card", id: "channels-list" });
  const note = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card", id: "channel-form", "aria-label": "New channel" },
    h("h2", {}, "New channel"),
    h("label", {}, "Type ", h("select", { name: "type" },
      h("option", { value: "feishu" }, "Feishu/Lark custom bot"), h("option", { value: "webhook" }, "JSON webhook"))),
    h("label", {}, "Name ", h("input", { name: "name", required: true, maxlength: 100 })),
    h("label", {}, "URL ", h("input", { name: "url", type: "url", required: true, placeholder: "https://open.feishu.cn/open-apis/bot/v2/hook/…" })),
    h("label", {}, "Secret ", h("input", { name: "secret", type: "password", autocomplete: "off", placeholder: "signing secret (optional)" })),
    h("button", { type: "submit" }, "Add channel"), note);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    if (!data.secret) delete data.secret;
    try {
      await api("/api/channels", { method: "POST", body: data });
      form.reset();
      replace(note, message("ok", `Channel “${data.name}” added.`));
      await load();
    } catch (error) {
      replace(note, message("error", error.message));
    }
  });
  page.append(list, form);

  async function test(channel, where) {
    try {
      const line = await api(`/api/channels/${channel.channel_id}/test`, { method: "POST" });
      replace(where, line.state === "sent" ? message("ok", "Test message delivered.")
        : message("error", `Test message failed: ${line.last_error || line.state}`));
    } catch (error) {
      replace(where, message("error", error.message));
    }
  }

  async function remove(channel) {
    if (!window.confirm(`Delete the channel “${channel.name}”?`)) return;
    await api(`/api/channels/${channel.channel_id}`, { method: "DELETE" });
    await load();
  }

  async function load() {
    const { items } = await api("/api/channels");
    if (!items.length) { replace(list, empty("No channel yet.", "Add a Feishu bot or a webhook below.")); return; }
    replace(list, h("table", { class: "table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Type"), h("th", {}, "URL"), h("th", {}, "Signed"),
        h("th", {}, "Added"), h("th", {}, "Actions"))),
      h("tbody", {}, ...items.map((channel) => {
        const result = h("div", { "aria-live": "polite" });
        return h("tr", { dataset: { channel: String(channel.channel_id) } },
          h("td", { "data-label": "Name" }, h("strong", {}, channel.name)),
          h("td", { "data-label": "Type" }, channel.type),
          h("td", { "data-label": "URL", class: "mono" }, channel.url || "—"),
          h("td", { "data-label": "Signed" }, channel.has_secret ? badge("signed", "ok") : badge("unsigned")),
          h("td", { "data-label": "Added" }, ago(channel.created_at)),
          h("td", { "data-label": "Actions" },
            h("button", { type: "button", class: "small", onclick: () => test(channel, result) }, "Send a test message"), " ",
            h("button", { type: "button", class: "small ghost", onclick: () => remove(channel) }, "Delete"), result));
      }))));
  }
  await load();
  return null;
}

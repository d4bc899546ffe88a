// Tool parameters checked as you type, with the server's rules (toolbox/tools/catalogue.py and
// toolbox/tools/targets.py).  The server stays the judge: its 400 message is shown on submit.

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const SERVICE_LABEL = /^_[a-z0-9](?:[a-z0-9-]{0,60}[a-z0-9])?$/;
const OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const URL_TAIL = /^[A-Za-z0-9\-._~:/?#@&*+,=%]*$/;

export function isIPv4(text) {
  return IPV4.test(text);
}

export function isIPv6(text) {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (!/^[0-9A-Fa-f:.]+$/.test(bare) || !bare.includes(":")) return false;
  try {
    new URL(`http://[${bare}]/`);
    return true;
  } catch {
    return false;
  }
}

function isHostname(text, serviceLabels) {
  let name = text.toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1);
  if (!name || name.length > 253) return false;
  const labels = name.split(".");
  if (/^[0-9]+$/.test(labels[labels.length - 1])) return false;
  return labels.every((label, index) =>
    LABEL.test(label) || (serviceLabels && index < labels.length - 1 && SERVICE_LABEL.test(label)));
}

/** An error message for a host value, or null when it is fine. */
export function checkHost(value, name, { ipOnly = false, serviceLabels = false } = {}) {
  if (value.length > 255) return `${name}: is too long (at most 253 characters)`;
  if (/[^\x21-\x7e]/.test(value)) return `${name}: must not contain spaces or non-ASCII characters (use punycode xn-- for IDN)`;
  if (value.startsWith("-")) return `${name}: must not start with '-'`;
  const url = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#:]*)/.exec(value);
  if (url) return `${name}: is a URL; give only the host${url[1] ? ` (${url[1]})` : ""}, or use HTTP timing for URLs`;
  if (isIPv4(value) || isIPv6(value)) return null;
  if (ipOnly) return `${name}: must be an IP address`;
  if (/^[0-9.]+$/.test(value)) return `${name}: is not a valid IPv4 address`;
  if (value.includes(":")) return `${name}: is not a valid IPv6 address`;
  return isHostname(value, serviceLabels) ? null : `${name}: must be a hostname, IPv4 or IPv6 address`;
}

export function checkUrl(value, name) {
  if (value.length > 2048) return `${name}: is too long (at most 2048 characters)`;
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(value);
  if (!match) return `${name}: must be an http:// or https:// URL`;
  const [, scheme, authority, rest] = match;
  if (!["http", "https"].includes(scheme.toLowerCase())) return `${name}: only http and https URLs`;
  if (authority.includes("@")) return `${name}: must not contain a user name or password`;
  let host = authority;
  const port = /^(.*?)(?::([0-9]{1,5}))?$/.exec(authority);
  if (!authority.startsWith("[") || authority.includes("]:")) {
    host = port[1];
    if (port[2] && (Number(port[2]) < 1 || Number(port[2]) > 65535)) return `${name}: port must be 1-65535`;
  }
  if (!host) return `${name}: has no host`;
  const hostError = checkHost(host, name);
  if (hostError) return hostError;
  if (!URL_TAIL.test(rest)) return `${name}: has characters that must be percent-encoded (spaces, quotes, brackets, $ ' ( ) ! ;)`;
  if (/%(?![0-9A-Fa-f]{2})/.test(rest)) return `${name}: has a '%' that is not a %XX escape`;
  return null;
}

/** Check one parameter's raw form value; return [value to send, error or null]. */
export function checkParam(param, raw, extra = {}) {
  const text = typeof raw === "string" ? raw.trim() : raw;
  if (text === "" || text === null || text === undefined) {
    return [undefined, param.required ? `${param.name}: is required` : null];
  }
  switch (param.type) {
    case "int": {
      if (!/^[0-9]{1,10}$/.test(text)) return [text, `${param.name}: must be a whole number`];
      const value = Number(text);
      if (value < param.min || value > param.max) {
        return [value, `${param.name}: must be between ${param.min} and ${param.max}`];
      }
      return [value, null];
    }
    case "number": {
      if (!/^[0-9]{1,6}(\.[0-9]{1,3})?$/.test(text)) return [text, `${param.name}: must be a number with at most 3 decimals`];
      const value = Number(text);
      if (value < param.min || value > param.max) {
        return [value, `${param.name}: must be between ${param.min} and ${param.max}`];
      }
      return [value, null];
    }
    case "choice": {
      const found = (param.choices || []).find((c) => c.toLowerCase() === text.toLowerCase());
      return found ? [found, null] : [text, `${param.name}: must be one of ${param.choices.join(", ")}`];
    }
    case "url":
      return [text, checkUrl(text, param.name)];
    case "host":
      return [text, checkHost(text, param.name, extra)];
    default:
      return [text, null];
  }
}

/** Tool-specific cross-field rules the server applies (dig: an IP target needs PTR). */
export function checkTool(tool, values) {
  if (tool.name === "dig" && values.target && (isIPv4(values.target) || isIPv6(values.target))
      && (values.record_type || "A") !== "PTR") {
    return ["target", "target: an IP address can only be looked up with record type PTR"];
  }
  if (tool.name === "dig" && values.server && !(isIPv4(values.server) || isIPv6(values.server))) {
    return ["server", "server: must be an IP address"];
  }
  return null;
}

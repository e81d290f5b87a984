/*! oakdata-js: the OakData browser SDK. MIT. docs/browser.md */
// A classic script: its one top-level name, `oak`, becomes window.oak. The server also serves
// this text followed by `export default oak;` as /static/oak.mjs, so the two never differ.
// Every public method catches everything: analytics must never break the page it measures.
var oak = (function () {
  "use strict";
  var VERSION = "0.1.0";
  var PREFIX = "oak_"; // of the localStorage keys and cookies this script keeps
  // fetch keepalive and sendBeacon each refuse bodies past 64 KiB in flight.
  var MAX_BODY_CHARS = 60000;
  var MAX_QUEUE = 1000;
  var MAX_TEXT_CHARS = 200;
  var defaults = {
    host: "",
    autocapture: true,
    capture_pageview: true,
    flush_at: 20,
    flush_interval: 1, // seconds an event may wait for others to share its request
    max_retries: 6, // with back-off from 1 s doubling, capped at 30 s: about a minute
    retry_initial_delay: 1,
    debug: false,
  };
  var config = null;
  var apiKey = "";
  var queue = []; // messages not yet acknowledged by a 2xx, in flight or not
  var sending = 0; // how many of the first messages of `queue` are in flight
  var timer = null;
  var failures = 0;
  var memory = {}; // where state lives when neither localStorage nor cookies work

  function log(level, text) {
    if ((config && config.debug) || level === "warn") {
      try {
        console[level]("oak: " + text);
      } catch (e) {}
    }
  }

  function guard(fn) {
    return function () {
      try {
        return fn.apply(null, arguments);
      } catch (e) {
        log("warn", "ignored an error: " + (e && e.message));
      }
    };
  }

  // Persistence: localStorage, else a first-party cookie, else this page's memory.
  function load(name) {
    try {
      var stored = window.localStorage.getItem(PREFIX + name);
      if (stored !== null) return stored;
    } catch (e) {}
    var match = document.cookie.match(new RegExp("(?:^|; )" + PREFIX + name + "=([^;]*)"));
    if (match) return decodeURIComponent(match[1]);
    return memory.hasOwnProperty(name) ? memory[name] : null;
  }

  function save(name, value) {
    memory[name] = value;
    try {
      if (value === null) window.localStorage.removeItem(PREFIX + name);
      else window.localStorage.setItem(PREFIX + name, value);
      return;
    } catch (e) {}
    var cookie = PREFIX + name + "=" + (value === null ? "" : encodeURIComponent(value));
    var age = value === null ? 0 : 31536000;
    document.cookie = cookie + "; path=/; max-age=" + age + "; SameSite=Lax";
  }

  function uuidv7() {
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) window.crypto.getRandomValues(bytes);
    else for (var r = 0; r < 16; r++) bytes[r] = Math.floor(Math.random() * 256);
    var ms = Date.now();
    for (var i = 5; i >= 0; i--) {
      bytes[i] = ms % 256;
      ms = Math.floor(ms / 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x70; // version 7
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10
    var hex = "";
    for (var j = 0; j < 16; j++) {
      hex += (bytes[j] + 0x100).toString(16).slice(1);
      if (j === 3 || j === 5 || j === 7 || j === 9) hex += "-";
    }
    return hex;
  }

  function now() {
    return new Date().toISOString();
  }

  function anonymousId() {
    var id = load("anon_id");
    if (!id) {
      id = uuidv7();
      save("anon_id", id);
    }
    return id;
  }

  function distinctId() {
    return load("distinct_id") || anonymousId();
  }

  function copy(properties) {
    var copied = {};
    for (var name in properties || {}) {
      if (Object.prototype.hasOwnProperty.call(properties, name)) copied[name] = properties[name];
    }
    return copied;
  }

  function context(properties) {
    var merged = copy(properties);
    merged.$current_url = window.location.href;
    merged.$referrer = document.referrer || "$direct";
    merged.$lib = "oakdata-js";
    merged.$lib_version = VERSION;
    return merged;
  }

  function enqueue(message) {
    if (!config || load("opted_out") === "1") return;
    message.uuid = uuidv7();
    message.timestamp = now();
    var encoded;
    try {
      encoded = JSON.stringify(message);
    } catch (e) {
      log("warn", "dropped a message that is not JSON (" + e.message + ")");
      return;
    }
    if (encoded.length > MAX_BODY_CHARS) {
      log("warn", "dropped a message of " + encoded.length + " characters");
      return;
    }
    if (queue.length >= MAX_QUEUE) {
      log("warn", "the queue is full; dropped the oldest message");
      queue.splice(sending, 1);
    }
    queue.push(encoded);
    if (queue.length - sending >= config.flush_at) flush();
    else schedule(config.flush_interval * 1000);
  }

  function schedule(delay) {
    if (timer === null) timer = setTimeout(guard(tick), delay);
  }

  function tick() {
    timer = null;
    flush();
  }

  function url() {
    return config.host + "/api/oak/ingest?key=" + encodeURIComponent(apiKey);
  }

  // Messages from `start` while the request stays under the size keepalive allows.
  function take(start) {
    var parts = [];
    var size = 0;
    for (var i = start; i < queue.length && size + queue[i].length < MAX_BODY_CHARS; i++) {
      parts.push(queue[i]);
      size += queue[i].length + 1;
    }
    return parts;
  }

  function body(parts) {
    return '{"sent_at":"' + now() + '","batch":[' + parts.join(",") + "]}";
  }

  function flush() {
    if (!config || sending > 0 || timer !== null || queue.length === 0) return;
    var parts = take(0);
    sending = parts.length;
    // text/plain and no custom header: a "simple" request, so no CORS preflight.
    fetch(url(), {
      method: "POST",
      body: body(parts),
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
      keepalive: true,
      credentials: "omit",
    }).then(
      guard(function (response) {
        answered(response.status, response.headers.get("Retry-After"));
      }),
      guard(function () {
        answered(0, null);
      })
    );
  }

  function answered(status, retryAfter) {
    var count = sending;
    sending = 0;
    var retry = status === 0 || status === 408 || status === 429 || status >= 500;
    if (retry && failures < config.max_retries) {
      failures += 1;
      var delay = Math.min(30, config.retry_initial_delay * Math.pow(2, failures - 1));
      delay = delay / 2 + (Math.random() * delay) / 2;
      var asked = parseFloat(retryAfter);
      if (status === 429 && asked >= 0) delay = Math.min(30, asked);
      log("warn", "sending failed (" + (status || "network error") + "); retrying in " +
        delay.toFixed(1) + " s");
      schedule(delay * 1000);
      return;
    }
    if (status < 200 || status >= 300) {
      log("warn", "dropped " + count + " messages (" + (status || "network error") + ")");
    }
    failures = 0;
    queue.splice(0, count);
    if (queue.length > 0) flush();
  }

  // The page is going away or may be killed: hand everything to the browser in beacons, and
  // keep a copy, sent again by this site's next page (the server drops duplicates by uuid).
  function leaving() {
    if (!config || queue.length === 0) return;
    save("pending", "[" + queue.join(",") + "]");
    for (var start = sending; start < queue.length; ) {
      var parts = take(start);
      if (parts.length === 0) break;
      var blob = new Blob([body(parts)], { type: "text/plain;charset=UTF-8" });
      if (!navigator.sendBeacon || !navigator.sendBeacon(url(), blob)) break;
      queue.splice(start, parts.length); // the browser delivers them now, even after we are gone
    }
  }

  function restorePending() {
    var pending = load("pending");
    save("pending", null);
    if (!pending) return;
    // Beacons may have delivered them already: sending again is safe, as the server stores a
    // uuid once, and it saves what a beacon lost when the server was down.
    var messages = JSON.parse(pending);
    for (var i = 0; i < messages.length && queue.length < MAX_QUEUE; i++) {
      queue.push(JSON.stringify(messages[i]));
    }
  }

  function text(element) {
    var content = (element.innerText || element.textContent || "").replace(/\s+/g, " ");
    return content.trim().slice(0, MAX_TEXT_CHARS);
  }

  function clicked(event) {
    var element = event.target;
    while (element && element.nodeType === 1) {
      var tag = element.tagName.toLowerCase();
      if (tag === "a" || tag === "button" || element.getAttribute("role") === "button") break;
      element = element.parentNode;
    }
    if (!element || element.nodeType !== 1) return;
    // Only the element's own text and link: never an input's value, which may be typed.
    var properties = { $tag: element.tagName.toLowerCase(), $text: text(element) };
    if (element.id) properties.$element_id = element.id.slice(0, MAX_TEXT_CHARS);
    if (element.href) properties.$href = String(element.href).slice(0, 2000);
    capture("$autocapture", properties);
  }

  function init(key, options) {
    if (config) return;
    if (typeof key !== "string" || key.indexOf("oak_pub_") !== 0) {
      log("warn", "init needs a public key (oak_pub_...); a secret key never goes in a page");
      return;
    }
    config = {};
    for (var name in defaults) config[name] = defaults[name];
    for (name in options || {}) {
      if (Object.prototype.hasOwnProperty.call(defaults, name)) config[name] = options[name];
    }
    config.host = String(config.host).replace(/\/+$/, "");
    apiKey = key;
    guard(restorePending)();
    var hide = guard(leaving);
    window.addEventListener("pagehide", hide);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") hide();
    });
    if (config.autocapture) document.addEventListener("click", guard(clicked), true);
    if (config.capture_pageview) capture("$pageview");
    if (queue.length > 0) schedule(0);
  }

  function capture(event, properties) {
    if (typeof event !== "string" || !event) {
      log("warn", "capture needs an event name");
      return;
    }
    enqueue({
      type: "capture",
      distinct_id: distinctId(),
      event: event,
      properties: context(properties),
    });
  }

  function identify(id, properties) {
    if (typeof id !== "string" || !id) {
      log("warn", "identify needs a distinct id");
      return;
    }
    var traits = copy(properties);
    // Only an anonymous id is linked: after another user's identify without reset(), the
    // two people must stay apart.
    var previous = distinctId();
    if (previous === anonymousId() && previous !== id) traits.$anon_distinct_id = previous;
    save("distinct_id", id);
    enqueue({ type: "identify", distinct_id: id, properties: traits });
  }

  function reset() {
    save("distinct_id", null);
    save("anon_id", null);
  }

  function optOut() {
    save("opted_out", "1");
    queue.splice(sending, queue.length - sending);
  }

  return {
    init: guard(init),
    capture: guard(capture),
    identify: guard(identify),
    reset: guard(reset),
    flush: guard(function () {
      if (failures === 0 && timer !== null) {
        clearTimeout(timer); // send now rather than at the end of flush_interval
        timer = null;
      }
      flush();
    }),
    get_distinct_id: guard(distinctId),
    opt_out: guard(optOut),
    opt_in: guard(function () {
      save("opted_out", null);
    }),
    has_opted_out: guard(function () {
      return load("opted_out") === "1";
    }),
    version: VERSION,
  };
})();

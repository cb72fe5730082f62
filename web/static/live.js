// The alert list's live updates: listens to /alerts/live (server-sent events) with the list's
// filters and replaces the list when an alert changes. A new emergency shows a banner and,
// when the user switched it on (remembered in this browser), a short tone. Without this script
// the list works as a normal page (reload to see changes).
(function () {
  "use strict";
  var items = document.getElementById("alert-items");
  if (!items || !window.EventSource) { return; }
  var status = document.getElementById("live-status");
  var stateText = document.getElementById("live-state");
  var banner = document.getElementById("live-banner");
  var sound = document.getElementById("live-sound");
  var title = document.title;

  function emergencies() {
    var holder = items.querySelector("[data-emergencies]");
    var ids = holder ? holder.getAttribute("data-emergencies").split(" ") : [];
    return ids.filter(function (id) { return id !== ""; });
  }

  var known = {};
  emergencies().forEach(function (id) { known[id] = true; });

  try { sound.checked = window.localStorage.getItem("mimamori.sound") === "1"; } catch (e) { /* private mode */ }
  sound.addEventListener("change", function () {
    try { window.localStorage.setItem("mimamori.sound", sound.checked ? "1" : "0"); } catch (e) { /* private mode */ }
  });

  function beep() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { return; }
    try {
      var ctx = new Ctx();
      [0, 0.35].forEach(function (at) {
        var osc = ctx.createOscillator();
        var gain = ctx.createGain();
        osc.frequency.value = 880;
        gain.gain.value = 0.2;
        osc.connect(gain);
        gain.connect(ctx.destination);
        osc.start(ctx.currentTime + at);
        osc.stop(ctx.currentTime + at + 0.25);
      });
    } catch (e) { /* no sound: the banner still shows */ }
  }

  function update(html) {
    items.innerHTML = html;
    var fresh = emergencies().filter(function (id) { return !known[id]; });
    fresh.forEach(function (id) {
      known[id] = true;
      var line = document.getElementById("alert-" + id);
      if (line) { line.classList.add("fresh"); }
    });
    if (fresh.length > 0) {
      banner.textContent = "";
      banner.appendChild(document.createTextNode("新しい緊急通報があります："));
      fresh.forEach(function (id) {
        var link = document.createElement("a");
        link.href = "/alerts/" + id;
        link.textContent = " #" + id;
        banner.appendChild(link);
      });
      banner.hidden = false;
      document.title = "【緊急】" + title;
      if (sound.checked) { beep(); }
    }
  }

  var source = new EventSource(items.getAttribute("data-live"));
  status.hidden = false;
  source.addEventListener("alerts", function (e) {
    stateText.textContent = "自動更新中";
    update(e.data);
  });
  source.addEventListener("open", function () { stateText.textContent = "自動更新中"; });
  source.addEventListener("error", function () {
    stateText.textContent = source.readyState === EventSource.CLOSED
      ? "自動更新が止まりました。ページを再読み込みしてください。"
      : "再接続しています…";
  });
  window.addEventListener("focus", function () { document.title = title; });
})();

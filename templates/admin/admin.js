/*
 * bulletin admin: live progress only. Every element with data-progress-url
 * polls that JSON endpoint once a second and updates its <progress> and the
 * [data-field] / [data-state] texts (only boxes marked data-live="1": a
 * job queued or running, a post sending or scheduled). When a job finishes,
 * or a post's status differs from the one the page was made with (its
 * data-status: sending became sent or paused, scheduled became sending),
 * polling stops and the page reloads once, so its badge, actions, report
 * and rows are those of the new state. The pages work the same without this
 * script (a reload link or a meta refresh inside <noscript>).
 */
"use strict";
(function () {
	document.documentElement.classList.add("js");
	function eta(s) {
		if (s === null || s === undefined) return "unknown";
		if (s < 90) return s + " s";
		if (s < 5400) return Math.round(s / 60) + " min";
		return (s / 3600).toFixed(1) + " h";
	}
	function setText(box, name, value) {
		var el = box.querySelector('[data-field="' + name + '"]');
		if (el) el.textContent = String(value);
	}
	function watch(box) {
		var url = box.getAttribute("data-progress-url");
		var bar = box.querySelector("progress");
		var timer = null;
		function tick() {
			fetch(url, { credentials: "same-origin", cache: "no-store" })
				.then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
				.then(function (d) {
					if (box.getAttribute("data-kind") === "post") {
						bar.max = d.total > 0 ? d.total : 1;
						bar.value = d.total > 0 ? d.done : (d.finished ? 1 : 0);
						setText(box, "done", d.done);
						setText(box, "total", d.total);
						setText(box, "percent", d.percent);
						setText(box, "rate", d.rate.toFixed(1));
						setText(box, "eta", eta(d.eta));
						Object.keys(d.counts).forEach(function (k) {
							var el = box.querySelector('[data-state="' + k + '"]');
							if (el) el.textContent = String(d.counts[k]);
						});
						if (d.status !== box.getAttribute("data-status")) {
							stop();
							/* the badge, actions and rows of the new status come with the
							 * page; without ?done=, whose notice ("is being sent") is past */
							var u = new URL(window.location.href);
							u.searchParams.delete("done");
							window.location.replace(u.toString());
						}
					} else {
						bar.max = d.size > 0 ? d.size : 1;
						bar.value = d.state === "done" ? bar.max : d.done;
						setText(box, "state", d.state);
						setText(box, "percent", d.percent);
						if (d.finished) {
							stop();
							/* the report and final state come with the page */
							window.location.reload();
						}
					}
					box.setAttribute("data-updated", String(Date.now()));
				})
				.catch(function () { /* keep the page as it is; try again next second */ });
		}
		function stop() {
			if (timer !== null) clearInterval(timer);
			timer = null;
		}
		timer = setInterval(tick, 1000);
		tick();
	}
	document.addEventListener("DOMContentLoaded", function () {
		var boxes = document.querySelectorAll("[data-progress-url]");
		/* only what was in progress when the page was made: a finished job's page
		 * reloads once to show its report, and then stays */
		for (var i = 0; i < boxes.length; i++)
			if (boxes[i].getAttribute("data-live") === "1") watch(boxes[i]);
	});
})();

/* salespulse KPI dashboard: renders every chart and the scorecard from the embedded JSON.
   window.salespulseDashboard exposes the chart instances, the current grain and setGrain(). */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("salespulse-data").textContent);
  var T = JSON.parse(document.getElementById("salespulse-i18n").textContent);
  var CFG = JSON.parse(document.getElementById("salespulse-config").textContent);
  var LOCALE = CFG.locale;
  var COLORS = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16",
                "#64748b", "#f97316"];

  // ------------------------------------------------------------------ number formats
  var moneyFmt = new Intl.NumberFormat(LOCALE, {style: "currency", currency: CFG.currency, maximumFractionDigits: 0,
                                                minimumFractionDigits: 0});
  var moneyCompactFmt = new Intl.NumberFormat(LOCALE, {style: "currency", currency: CFG.currency,
                                                       notation: "compact", maximumFractionDigits: 1});
  var pctFmt = new Intl.NumberFormat(LOCALE, {style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1});
  var pctAxisFmt = new Intl.NumberFormat(LOCALE, {style: "percent", maximumFractionDigits: 0});
  var numFmt = new Intl.NumberFormat(LOCALE, {maximumFractionDigits: 0});
  var dec1Fmt = new Intl.NumberFormat(LOCALE, {minimumFractionDigits: 1, maximumFractionDigits: 1});
  var dec2Fmt = new Intl.NumberFormat(LOCALE, {minimumFractionDigits: 2, maximumFractionDigits: 2});
  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function wrap(f) { return function (v) { return isNum(v) ? f.format(v) : "–"; }; }
  var F = {
    money: wrap(moneyFmt), moneyCompact: wrap(moneyCompactFmt), pct: wrap(pctFmt), pctAxis: wrap(pctAxisFmt),
    num: wrap(numFmt), days: wrap(dec1Fmt), ratio: function (v) { return isNum(v) ? dec2Fmt.format(v) + "×" : "–"; },
    months: wrap(dec1Fmt)
  };
  function t(key) { return Object.prototype.hasOwnProperty.call(T, key) ? T[key] : key; }

  // ------------------------------------------------------------------ chart helpers
  var charts = {};
  function chart(name) {
    if (!charts[name]) {
      var el = document.getElementById("chart-" + name);
      charts[name] = echarts.init(el, null, {renderer: "svg", locale: CFG.language === "zh" ? "ZH" : "EN"});
    }
    return charts[name];
  }
  function col(rows, key) { return rows.map(function (r) { return isNum(r[key]) ? r[key] : null; }); }
  function labels(rows) { return rows.map(function (r) { return r.label; }); }
  function tooltipAxis() {
    return {trigger: "axis", confine: true, axisPointer: {type: "shadow"}};
  }
  function base(extra) {
    var opt = {
      animation: false, color: COLORS, textStyle: {fontFamily: "inherit"},
      grid: {left: 12, right: 16, top: 42, bottom: 28, containLabel: true},
      legend: {top: 0, type: "scroll"}
    };
    for (var k in extra) { opt[k] = extra[k]; }
    return opt;
  }
  function valueAxis(fmt, extra) {
    var a = {type: "value", axisLabel: {formatter: fmt}, splitLine: {lineStyle: {color: "#eef2f6"}}};
    for (var k in (extra || {})) { a[k] = extra[k]; }
    return a;
  }
  function catAxis(rows) {
    return {type: "category", data: labels(rows), axisTick: {alignWithLabel: true}};
  }
  function line(name, data, fmt, extra) {
    var s = {type: "line", name: name, data: data, symbolSize: 6, showSymbol: true,
             tooltip: {valueFormatter: fmt}};
    for (var k in (extra || {})) { s[k] = extra[k]; }
    return s;
  }
  function bar(name, data, fmt, extra) {
    var s = {type: "bar", name: name, data: data, barMaxWidth: 28, tooltip: {valueFormatter: fmt}};
    for (var k in (extra || {})) { s[k] = extra[k]; }
    return s;
  }
  function pie(rows, fmt, labelFn) {
    var data = rows.filter(function (r) { return isNum(r.value) && r.value > 0; })
      .map(function (r) { return {name: labelFn ? labelFn(r.name) : r.name, value: r.value}; });
    return {type: "pie", radius: ["28%", "50%"], center: ["50%", "56%"], data: data, avoidLabelOverlap: true,
            minShowLabelAngle: 4,
            label: {formatter: "{b}\n{d}%", fontSize: 10, lineHeight: 12, alignTo: "edge", edgeDistance: 4,
                    minMargin: 2},
            labelLine: {length: 8, length2: 0, maxSurfaceAngle: 80},
            tooltip: {valueFormatter: fmt}};
  }
  function noData(opt) {
    var empty = (opt.series || []).every(function (s) {
      return !(s.data || []).some(function (d) { return d !== null && d !== undefined &&
        (typeof d !== "object" || isNum(d.value)); });
    });
    if (empty) {
      opt.title = {text: t("no_data"), left: "center", top: "middle", textStyle: {color: "#9aa5b1", fontSize: 14}};
    }
    return opt;
  }
  function name(v) { return v === "unknown" ? t("unknown") : v; }

  // ------------------------------------------------------------------ the charts
  var BUILD = {
    bookings: function (g) {
      var r = g.revenue;
      return base({
        tooltip: tooltipAxis(), xAxis: catAxis(r),
        yAxis: [valueAxis(F.moneyCompact), valueAxis(F.pctAxis, {splitLine: {show: false}})],
        series: [
          line(t("kpi_revenue.bookings"), col(r, "bookings"), F.money, {lineStyle: {width: 3}}),
          line(t("kpi_attainment.bookings_target"), col(r, "bookings_target"), F.money,
               {lineStyle: {type: "dashed"}, symbol: "diamond"}),
          line(t("kpi_revenue.bookings_prior_year"), col(r, "bookings_prior_year"), F.money,
               {lineStyle: {type: "dotted"}, symbol: "emptyCircle", itemStyle: {color: "#94a3b8"}}),
          bar(t("kpi_revenue.bookings_yoy"), col(r, "bookings_yoy"), F.pct,
              {yAxisIndex: 1, itemStyle: {color: "rgba(16,185,129,.45)"}})
        ]
      });
    },
    share_channel: function (g) {
      return base({title: {text: t("share_channel"), left: "center", top: 0, textStyle: {fontSize: 12}},
                   legend: {show: false}, tooltip: {trigger: "item", confine: true},
                   series: [pie(g.share_channel, F.money, name)]});
    },
    share_segment: function (g) {
      return base({title: {text: t("share_segment"), left: "center", top: 0, textStyle: {fontSize: 12}},
                   legend: {show: false}, tooltip: {trigger: "item", confine: true},
                   series: [pie(g.share_segment, F.money, name)]});
    },
    attainment_team: function (g) {
      var rows = g.attainment.filter(function (r) { return r.slice === "team"; });
      var cats = rows.map(function (r) { return name(r.name); });
      return base({
        title: {text: t("attainment_team"), left: "center", top: 0, textStyle: {fontSize: 12}},
        legend: {top: 20, itemWidth: 12, itemHeight: 8, itemGap: 6, textStyle: {fontSize: 10}},
        grid: {left: 8, right: 8, top: 56, bottom: 8, containLabel: true},
        tooltip: tooltipAxis(), xAxis: {type: "category", data: cats},
        yAxis: [valueAxis(F.moneyCompact), valueAxis(F.pctAxis, {splitLine: {show: false}})],
        series: [
          bar(t("kpi_attainment.bookings_actual"), col(rows, "bookings_actual"), F.money),
          bar(t("kpi_attainment.bookings_target"), col(rows, "bookings_target"), F.money,
              {itemStyle: {color: "#cbd5e1"}}),
          line(t("kpi_attainment.bookings_attainment"), col(rows, "bookings_attainment"), F.pct,
               {yAxisIndex: 1, itemStyle: {color: "#f59e0b"}})
        ]
      });
    },
    attainment_rep: function (g) {
      var rows = g.attainment.filter(function (r) { return r.slice === "rep" && isNum(r.bookings_attainment); });
      rows = rows.slice().reverse();  // best at the top of a horizontal bar chart
      return base({
        title: {text: t("attainment_rep"), left: "center", top: 0, textStyle: {fontSize: 12}},
        legend: {show: false}, grid: {left: 8, right: 48, top: 28, bottom: 8, containLabel: true},
        tooltip: tooltipAxis(),
        yAxis: {type: "category", data: rows.map(function (r) { return name(r.name); })},
        xAxis: valueAxis(F.pctAxis),
        series: [bar(t("kpi_attainment.bookings_attainment"), rows.map(function (r) {
          return {value: r.bookings_attainment, itemStyle: {color: r.bookings_attainment >= 1 ? "#10b981" : "#2563eb"}};
        }), F.pct, {label: {show: true, position: "right", formatter: function (p) { return F.pct(p.value); },
                              fontSize: 10},
                    markLine: {silent: true, symbol: "none", data: [{xAxis: 1}], lineStyle: {color: "#ef4444"},
                               label: {show: false}}})]
      });
    },
    funnel: function (g) {
      var r = g.funnel;
      var immature = r.filter(function (x) { return x.is_mature === false; });
      var area = immature.length ? [[{name: t("immature"), xAxis: immature[0].label},
                                     {xAxis: immature[immature.length - 1].label}]] : [];
      function rate(key) {
        return r.map(function (x) {
          var v = isNum(x[key]) ? x[key] : null;
          return x.is_mature === false ? {value: v, symbol: "emptyCircle", itemStyle: {opacity: 0.55}} : v;
        });
      }
      return base({
        tooltip: tooltipAxis(), xAxis: catAxis(r),
        yAxis: [valueAxis(F.pctAxis, {max: 1}), valueAxis(F.num, {splitLine: {show: false}})],
        series: [
          bar(t("kpi_funnel.leads"), col(r, "leads"), F.num, {yAxisIndex: 1, itemStyle: {color: "rgba(100,116,139,.25)"},
              markArea: {silent: true, itemStyle: {color: "rgba(245,158,11,.10)"},
                         label: {color: "#b45309", fontSize: 11}, data: area}}),
          line(t("kpi_funnel.lead_to_contact_rate"), rate("lead_to_contact_rate"), F.pct),
          line(t("kpi_funnel.contact_to_qualified_rate"), rate("contact_to_qualified_rate"), F.pct),
          line(t("kpi_funnel.qualified_to_won_rate"), rate("qualified_to_won_rate"), F.pct),
          line(t("kpi_funnel.lead_to_won_rate"), rate("lead_to_won_rate"), F.pct, {lineStyle: {width: 3}})
        ]
      });
    },
    cac: function (g) {
      var r = g.cac;
      return base({
        tooltip: tooltipAxis(), xAxis: catAxis(r),
        yAxis: [valueAxis(F.moneyCompact), valueAxis(F.moneyCompact, {splitLine: {show: false}})],
        series: [
          bar(t("kpi_cac.ad_spend"), col(r, "ad_spend"), F.money, {stack: "cost"}),
          bar(t("kpi_cac.other_marketing"), col(r, "other_marketing"), F.money, {stack: "cost"}),
          bar(t("kpi_cac.sales_compensation"), col(r, "sales_compensation"), F.money, {stack: "cost"}),
          line(t("kpi_cac.cac_blended"), col(r, "cac_blended"), F.money, {yAxisIndex: 1, itemStyle: {color: "#ef4444"},
               lineStyle: {width: 3}})
        ]
      });
    },
    cac_channel: function (g) {
      var rows = g.cac_channel.filter(function (r) { return isNum(r.cac_paid); });
      return base({
        title: {text: t("cac_channel_bar"), left: "center", top: 0, textStyle: {fontSize: 12}},
        legend: {show: false}, grid: {left: 8, right: 8, top: 28, bottom: 8, containLabel: true},
        tooltip: tooltipAxis(),
        xAxis: {type: "category", data: rows.map(function (r) { return name(r.channel); }),
                axisLabel: {interval: 0, rotate: 30, fontSize: 10}},
        yAxis: valueAxis(F.moneyCompact),
        series: [bar(t("kpi_cac.cac_paid"), col(rows, "cac_paid"), F.money)]
      });
    },
    cac_channel_share: function (g) {
      var rows = g.cac_channel.map(function (r) { return {name: r.channel, value: r.channel_spend}; });
      return base({title: {text: t("cac_channel_pie"), left: "center", top: 0, textStyle: {fontSize: 12}},
                   legend: {show: false}, tooltip: {trigger: "item", confine: true},
                   series: [pie(rows, F.money, name)]});
    },
    clv: function (g) {
      var r = g.clv;
      return base({
        tooltip: tooltipAxis(), xAxis: catAxis(r),
        yAxis: [valueAxis(F.moneyCompact), valueAxis(F.ratio, {splitLine: {show: false}})],
        series: [
          bar(t("kpi_clv.clv_simple"), col(r, "clv_simple"), F.money),
          bar(t("kpi_clv.cac_blended_12m"), col(r, "cac_blended_12m"), F.money, {itemStyle: {color: "#cbd5e1"}}),
          line(t("kpi_clv.ltv_to_cac"), col(r, "ltv_to_cac"), F.ratio, {yAxisIndex: 1, itemStyle: {color: "#f59e0b"},
               lineStyle: {width: 3}})
        ]
      });
    },
    payback: function (g) {
      var r = g.clv;
      return base({
        tooltip: tooltipAxis(), xAxis: catAxis(r), yAxis: valueAxis(F.months),
        series: [line(t("kpi_clv.cac_payback_months"), col(r, "cac_payback_months"), F.months,
                      {itemStyle: {color: "#8b5cf6"}, areaStyle: {opacity: 0.08}})]
      });
    },
    cycle: function (g) {
      var r = g.cycle;
      var keys = ["signing_time", "response_time", "delivery_time"];
      var series = [];
      keys.forEach(function (k, i) {
        var c = COLORS[i];
        series.push(line(t("kpi_sales_cycle." + k + "_median_days"), col(r, k + "_median_days"), F.days,
                         {itemStyle: {color: c}, lineStyle: {width: 2.5}}));
        series.push(line(t("kpi_sales_cycle." + k + "_p90_days"), col(r, k + "_p90_days"), F.days,
                         {itemStyle: {color: c}, lineStyle: {type: "dashed"}, symbol: "emptyCircle"}));
      });
      return base({tooltip: tooltipAxis(), xAxis: catAxis(r), yAxis: valueAxis(F.days), series: series,
                   grid: {left: 12, right: 16, top: 64, bottom: 28, containLabel: true},
                   legend: {top: 0, type: "plain"}});
    },
    customers: function (g) {
      var r = g.customers;
      return base({
        tooltip: tooltipAxis(), xAxis: catAxis(r), yAxis: valueAxis(F.pctAxis),
        series: [
          line(t("kpi_customers.churn_rate"), col(r, "churn_rate"), F.pct, {itemStyle: {color: "#ef4444"}}),
          line(t("kpi_customers.repurchase_rate"), col(r, "repurchase_rate"), F.pct, {itemStyle: {color: "#2563eb"}}),
          line(t("kpi_customers.referral_rate"), col(r, "referral_rate"), F.pct, {itemStyle: {color: "#10b981"}})
        ]
      });
    }
  };

  // ------------------------------------------------------------------ tiles, scorecard, header
  function last(rows) { return rows.length ? rows[rows.length - 1] : {}; }
  function tiles(g) {
    var rev = last(g.revenue), cust = last(g.customers), cac = last(g.cac), clv = last(g.clv);
    var items = [
      [t("kpi_bookings"), F.money(rev.bookings), rev.label],
      [t("kpi_attainment"), F.pct(rev.bookings_attainment), t("kpi_attainment.bookings_target") + " " + F.money(rev.bookings_target)],
      [t("kpi_yoy"), F.pct(rev.bookings_yoy), t("kpi_revenue.bookings_prior_year") + " " + F.money(rev.bookings_prior_year)],
      [t("kpi_new_customers"), F.num(cust.new_customers), cust.label],
      [t("kpi_cac"), F.money(cac.cac_blended), cac.label],
      [t("kpi_ltv_cac"), F.ratio(clv.ltv_to_cac), t("kpi_clv.clv_simple") + " " + F.money(clv.clv_simple)]
    ];
    document.getElementById("tiles").innerHTML = items.map(function (it) {
      return '<div class="tile"><div class="k">' + esc(it[0]) + '</div><div class="v">' + esc(it[1]) +
             '</div><div class="s">' + esc(it[2] || "") + "</div></div>";
    }).join("");
  }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  var SC_COLS = [
    ["rank_in_company", F.num], ["rep_name", null], ["team_id", null], ["bookings", F.money],
    ["bookings_target", F.money], ["attainment", "attainment"], ["rank_in_team", F.num],
    ["new_customers", F.num], ["new_customers_target", F.num], ["win_rate", F.pct], ["won_amount", F.money],
    ["median_signing_days", F.days], ["activities_logged", F.num]
  ];
  function scorecard(g) {
    var table = document.getElementById("scorecard");
    table.tHead.innerHTML = "<tr>" + SC_COLS.map(function (c) {
      return '<th class="' + (c[1] ? "" : "t") + '">' + esc(t("kpi_scorecard." + c[0])) + "</th>";
    }).join("") + "</tr>";
    table.tBodies[0].innerHTML = g.scorecard.map(function (r) {
      return '<tr data-rep="' + esc(r.rep_id) + '">' + SC_COLS.map(function (c) {
        var v = r[c[0]];
        if (c[1] === "attainment") {
          var w = isNum(v) ? Math.max(0, Math.min(v, 1.5)) * 40 : 0;
          return '<td><span class="bar" style="width:' + w.toFixed(1) + 'px"></span>' + esc(F.pct(v)) + "</td>";
        }
        if (!c[1]) { return '<td class="t">' + esc(v === null || v === undefined ? "–" : name(v)) + "</td>"; }
        return "<td>" + esc(c[1](v)) + "</td>";
      }).join("") + "</tr>";
    }).join("");
    document.getElementById("scorecard-period").textContent = g.scorecard_label || "";
  }
  function header() {
    document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.getAttribute("data-i18n")); });
    var meta = [[t("as_of"), DATA.as_of], [t("published_at"), (DATA.published_at || "").replace("T", " ").slice(0, 16)],
                [t("currency"), CFG.currency], [t("source"), DATA.source]];
    document.getElementById("meta").innerHTML = meta.map(function (m) {
      return "<span>" + esc(m[0]) + ": <b>" + esc(m[1] || "–") + "</b></span>";
    }).join("");
    var sw = document.getElementById("grain-switch");
    sw.innerHTML = "<span>" + esc(t("grain")) + "</span>" + ["month", "quarter", "year"].map(function (g) {
      return '<button type="button" data-grain="' + g + '">' + esc(t("grain_" + g)) + "</button>";
    }).join("");
    sw.addEventListener("click", function (ev) {
      var g = ev.target && ev.target.getAttribute && ev.target.getAttribute("data-grain");
      if (g) { setGrain(g); }
    });
  }

  var state = {grain: null};
  function setGrain(grain) {
    var g = DATA.grains[grain];
    if (!g) { throw new Error("unknown grain " + grain); }
    state.grain = grain;
    document.querySelectorAll("#grain-switch button").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-grain") === grain);
    });
    document.querySelectorAll(".period-latest").forEach(function (el) { el.textContent = g.latest_label || ""; });
    var att = g.attainment.length ? g.attainment_label : "";
    document.getElementById("attainment-period").textContent = att || "";
    document.getElementById("cac-channel-period").textContent = g.cac_channel_label || "";
    Object.keys(BUILD).forEach(function (k) { chart(k).setOption(noData(BUILD[k](g)), true); });
    tiles(g);
    scorecard(g);
    try { history.replaceState(null, "", "#" + grain); } catch (e) { /* file:// in some browsers */ }
  }
  function pointCounts() {
    var out = {};
    Object.keys(charts).forEach(function (k) {
      var n = 0;
      (charts[k].getOption().series || []).forEach(function (s) {
        (s.data || []).forEach(function (d) {
          var v = d !== null && typeof d === "object" && !Array.isArray(d) ? d.value : d;
          if (isNum(v)) { n += 1; }
        });
      });
      out[k] = n;
    });
    return out;
  }

  header();
  var initial = (location.hash || "").replace("#", "");
  setGrain(DATA.grains[initial] ? initial : "month");
  window.addEventListener("resize", function () { Object.keys(charts).forEach(function (k) { charts[k].resize(); }); });
  window.salespulseDashboard = {charts: charts, setGrain: setGrain, pointCounts: pointCounts,
                                get grain() { return state.grain; }, ready: true};
})();

"""Panel outputs computed the same way for live and replay (thin adapters over
panel_data and figures)."""

from __future__ import annotations

from dash import Output

from imu.events.model import AnalysisEvent

from dashboard.buffers import AngleSlice
from dashboard.figures import angles_figure, cpd_figure, reps_figure
from dashboard.ids import PanelIds
from dashboard.panel_data import (activity_text, angle_readouts, band_shapes, events_view,
                                  extend_payload, pelvis_rotations_deg)
from dashboard.panels import flag_items, reps_table_children, variability_text


def fast_outputs(p: PanelIds) -> list[Output]:
    """Readouts and pelvis picture (updated every tick)."""
    out = []
    for value_id in (p.tilt, p.drop, p.rotation):
        out += [Output(value_id, "children"), Output(value_id, "style"),
                Output(value_id + "-detail", "children")]
    return out + [Output(p.pelvis_back, "style"), Output(p.pelvis_side, "style"),
                  Output(p.pelvis_top, "style")]


def fast_values(angles: tuple[float, float, float] | None) -> list:
    tilt, drop, rot = angle_readouts(angles)
    turns = pelvis_rotations_deg(angles)
    out = []
    for r in (tilt, drop, rot):
        out += [r.value, {"color": r.colour}, r.detail]
    return out + [{"transform": f"rotate({deg:.1f}deg)"} for deg in turns]


def events_outputs(p: PanelIds) -> list[Output]:
    """Analysis panels (updated when new items were reported)."""
    return [Output(p.cpd_graph, "figure"), Output(p.reps_graph, "figure"),
            Output(p.reps_table, "children"), Output(p.variability, "children"),
            Output(p.flags, "children"), Output(p.activity, "children"),
            Output(p.flag_count, "data")]


def events_values(items: tuple[AnalysisEvent, ...], origin_s: float,
                  flags_total: int | None = None) -> list:
    """The analysis panels' values; `flags_total` counts flags ever reported when the
    items are only the newest ones kept (the live view)."""
    v = events_view(items)
    return [cpd_figure(v.strides), reps_figure(v.reps), reps_table_children(v.reps),
            variability_text(v), flag_items(v.flags, origin_s), activity_text(v.segment),
            v.flag_total if flags_total is None else flags_total]


def chart_update(sl: AngleSlice, origin_s: float, max_points: int) -> list | None:
    """extendData for new points (None when there are none)."""
    return extend_payload(sl, origin_s, max_points) if len(sl) else None


def chart_figure(update: list | None) -> dict:
    """A fresh chart holding `update`'s points (after a reconnect or a seek)."""
    fig = angles_figure()
    if update is not None:
        data, indices, _ = update
        for k, i in enumerate(indices):
            fig["data"][i]["x"] = data["x"][k]
            fig["data"][i]["y"] = data["y"][k]
    return fig


def bands(items: tuple[AnalysisEvent, ...], newest_s: float | None, window_s: float,
          origin_s: float) -> list[dict]:
    """The band shapes for a chart whose newest point is at newest_s."""
    if newest_s is None:
        return []
    return band_shapes(items, newest_s - window_s, newest_s, origin_s)


# Draws band shapes (panel_data.band_shapes: x0, x1, y0, y1 as fractions of the plot's
# height, fillcolor) into the chart's band traces (figures.angles_figure), one
# rectangle each, without resending the chart's data.
BANDS_JS = """
function(shapes, graphId) {
    const outer = document.getElementById(graphId);
    const gd = outer && (outer.classList.contains('js-plotly-plot') ? outer :
                         outer.querySelector('.js-plotly-plot'));
    if (!(gd && window.Plotly && gd._fullLayout && gd.data)) { return 0; }
    const idx = [], xs = [], ys = [];
    gd.data.forEach((t, i) => {
        if (t.meta && t.meta.band) { idx.push(i); xs.push([]); ys.push([]); }
    });
    for (const s of shapes || []) {
        const k = idx.findIndex(i => gd.data[i].meta.band === s.fillcolor);
        if (k < 0) { continue; }
        xs[k].push(s.x0, s.x1, s.x1, s.x0, s.x0, null);
        ys[k].push(s.y0, s.y0, s.y1, s.y1, s.y0, null);
    }
    if (idx.length) { window.Plotly.restyle(gd, {x: xs, y: ys}, idx); }
    return (shapes || []).length;
}
"""


def stamp_text(sl: AngleSlice) -> str:
    """When the newest drawn sample reached the server (epoch ms), for latency checks."""
    if len(sl) == 0 or not (sl.arrival_epoch_s[-1] == sl.arrival_epoch_s[-1]):
        return ""
    return f"{sl.arrival_epoch_s[-1] * 1000:.1f}"


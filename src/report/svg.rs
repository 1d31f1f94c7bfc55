//! The drawing of the report: numbers mapped to SVG coordinates, and
//! nothing else. Every chart is a plot area of W × H user units.

use serde::Serialize;

/// One bin of a drift chart: its label, both shares and its PSI term.
#[derive(Debug, Serialize)]
pub struct BinRow {
    pub bin: i32,
    pub label: String,
    /// A numeric bin's finite upper edge, as the axis prints it (the axis of
    /// numeric bins is their edges, not a label per bin).
    pub edge: Option<String>,
    pub reference_share: f64,
    pub current_share: f64,
    pub psi_term: f64,
}

// Plot geometry, in SVG user units: room on the left for tick labels of up
// to six characters and the rotated axis title beside them.
const W: f64 = 320.0;
const H: f64 = 220.0;
const LEFT: f64 = 62.0;
const TOP: f64 = 12.0;
const PW: f64 = W - LEFT - 14.0;
const PH: f64 = H - TOP - 34.0;

/// The plot area as the chart templates draw it (`layout.left` …).
#[derive(Debug, Serialize)]
pub struct Geometry {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
    pub plot_width: f64,
    pub plot_height: f64,
}

pub const GEOMETRY: Geometry = Geometry {
    width: W,
    height: H,
    left: LEFT,
    top: TOP,
    right: LEFT + PW,
    bottom: TOP + PH,
    plot_width: PW,
    plot_height: PH,
};

/// A line chart on the unit square: an SVG polyline and its point markers.
#[derive(Debug, Default, Serialize)]
pub struct Plot {
    pub points: String,
    pub markers: Vec<Marker>,
    pub empty: bool,
}

#[derive(Debug, Serialize)]
pub struct Marker {
    pub cx: f64,
    pub cy: f64,
    pub title: String,
}

/// Vertical bars with a reference line.
#[derive(Debug, Default, Serialize)]
pub struct Bars {
    pub bars: Vec<Bar>,
    /// Tick labels between bars (a numeric input's bin edges).
    pub edges: Vec<Edge>,
    pub reference_y: f64,
    pub y_max: f64,
    pub empty: bool,
}

#[derive(Debug, Serialize)]
pub struct Edge {
    pub x: f64,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub label: String,
    pub value: f64,
    pub title: String,
}

fn sx(x: f64) -> f64 {
    round1(LEFT + x.clamp(0.0, 1.0) * PW)
}

fn sy(y: f64) -> f64 {
    round1(TOP + (1.0 - y.clamp(0.0, 1.0)) * PH)
}

pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

pub fn plot(points: impl IntoIterator<Item = (f64, f64, String)>, with_markers: bool) -> Plot {
    let mut p = Plot::default();
    let mut coords = Vec::new();
    for (x, y, title) in points {
        let (cx, cy) = (sx(x), sy(y));
        coords.push(format!("{cx},{cy}"));
        if with_markers {
            p.markers.push(Marker { cx, cy, title });
        }
    }
    p.empty = coords.is_empty();
    p.points = coords.join(" ");
    p
}

/// Bars for values ≥ 0 with a horizontal reference line at `reference`.
pub fn bars(values: &[(String, f64, String)], reference: f64) -> Bars {
    let top = values.iter().map(|v| v.1).fold(reference, f64::max);
    let y_max = if top > 0.0 { top * 1.1 } else { 1.0 };
    let slot = PW / values.len().max(1) as f64;
    let bars = values
        .iter()
        .enumerate()
        .map(|(i, (label, value, title))| {
            let height = round1(value.max(0.0) / y_max * PH);
            Bar {
                x: round1(LEFT + i as f64 * slot + slot * 0.15),
                y: round1(TOP + PH - height),
                width: round1(slot * 0.7),
                height,
                label: label.clone(),
                value: *value,
                title: title.clone(),
            }
        })
        .collect();
    Bars {
        bars,
        edges: Vec::new(),
        reference_y: round1(TOP + PH - reference / y_max * PH),
        y_max,
        empty: values.is_empty(),
    }
}

/// Paired bars (reference, current) per bin, shares on a common scale.
pub fn paired(bins: &[BinRow]) -> Bars {
    let top = bins
        .iter()
        .map(|b| b.reference_share.max(b.current_share))
        .fold(0.0, f64::max);
    let y_max = if top > 0.0 { top * 1.1 } else { 1.0 };
    let slot = PW / bins.len().max(1) as f64;
    let mut out = Vec::new();
    let mut edges = Vec::new();
    // A numeric input's bins read on an axis of their edges; categories and
    // the NULL bin keep a label of their own.
    let numeric = bins.iter().any(|b| b.edge.is_some());
    for (i, b) in bins.iter().enumerate() {
        if let Some(edge) = &b.edge
            && i + 1 < bins.len()
        {
            edges.push(Edge {
                x: round1(LEFT + (i + 1) as f64 * slot),
                label: edge.clone(),
            });
        }
        let own_label = !numeric || b.bin == 0;
        for (j, (share, who)) in [(b.reference_share, "reference"), (b.current_share, "current")]
            .into_iter()
            .enumerate()
        {
            let height = round1(share / y_max * PH);
            out.push(Bar {
                x: round1(LEFT + i as f64 * slot + slot * (0.1 + 0.4 * j as f64)),
                y: round1(TOP + PH - height),
                width: round1(slot * 0.4),
                height,
                label: if j == 0 && own_label {
                    b.label.clone()
                } else {
                    String::new()
                },
                value: share,
                title: format!("{}: {who} {:.2}%", b.label, share * 100.0),
            });
        }
    }
    Bars {
        bars: out,
        edges,
        reference_y: TOP + PH,
        y_max,
        empty: bins.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_map_the_unit_square_onto_the_plot_area() {
        let p = plot([(0.0, 0.0, String::new()), (1.0, 1.0, String::new())], false);
        assert_eq!(p.points, format!("{LEFT},{} {},{TOP}", TOP + PH, LEFT + PW));
        let b = bars(
            &[("1".into(), 2.0, String::new()), ("2".into(), 1.0, String::new())],
            1.0,
        );
        assert!((b.bars[0].height - round1(2.0 / 2.2 * PH)).abs() < 1e-9);
        assert!((b.reference_y - round1(TOP + PH - PH / 2.2)).abs() < 1e-9);
    }
}

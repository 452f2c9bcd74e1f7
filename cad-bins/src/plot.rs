//! Plots people would rather look at than read: the learning curve, the
//! confusion matrix, the reliability diagram of the confidence and the
//! open-set trade-off, as SVG or PNG (chosen by the file extension).
//!
//! Each plot is drawn into a temporary file beside its target and renamed
//! over it when complete, so a reader never sees half a plot. The confusion
//! matrix shrinks its cells to stay within [`MAX_SIDE`] pixels, drops the
//! counts and then the class names when cells get small, and is not drawn
//! past [`MAX_PLOT_CLASSES`] classes (the report and `report.json` still
//! have the numbers).
//!
//! Pure Rust: `plotters` without its `ttf` feature (which links fontconfig and
//! freetype) and DejaVu Sans bundled with `include_bytes!` (licence in
//! `assets/DejaVuSans.LICENSE`).

use anyhow::{Context, Result, bail};
use cad_core::files;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bundled font is known-good; a failure would only mean unreadable labels.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

enum Format {
    Svg,
    Png,
}

fn format_of(path: &Path) -> Result<Format> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => Ok(Format::Svg),
        Some("png") => Ok(Format::Png),
        _ => bail!("plot file {} must end in .svg or .png", path.display()),
    }
}

/// The longest side of a plot, in pixels.
pub const MAX_SIDE: u32 = 2400;

/// Classes beyond which no confusion-matrix plot is drawn.
pub const MAX_PLOT_CLASSES: usize = 200;

macro_rules! on_backend {
    ($path:expr, $size:expr, |$root:ident| $body:block) => {{
        register_font();
        let path: &Path = $path;
        let format = format_of(path)?;
        files::remove_stale_temporaries(path);
        let ext = path.extension().and_then(|e| e.to_str());
        let tmp = files::temporary_path(path, ext).with_context(|| format!("writing {}", path.display()))?;
        let drawn: Result<()> = (|| {
            match format {
                Format::Svg => {
                    let $root = SVGBackend::new(&tmp, $size).into_drawing_area();
                    $body
                    $root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                Format::Png => {
                    let $root = BitMapBackend::new(&tmp, $size).into_drawing_area();
                    $body
                    $root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
                }
            }
            Ok(())
        })();
        match drawn {
            Ok(()) => files::commit(&tmp, path).with_context(|| format!("writing {}", path.display())),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e.context(format!("writing {}", path.display())))
            }
        }
    }};
}

/// Draws accuracy against the number of training rows.
pub fn learning_curve(points: &[(usize, f64)], title: &str, path: &Path) -> Result<()> {
    if points.is_empty() {
        bail!("the learning curve has no points to plot");
    }
    let max_x = points.iter().map(|p| p.0).max().unwrap_or(1).max(2) as f64;
    on_backend!(path, (900, 560), |root| {
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d((1f64..max_x).log_scale(), 0f64..1.0)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("training rows")
            .y_desc("accuracy (held-out containers)")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let series: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (x.max(1) as f64, y)).collect();
        chart
            .draw_series(LineSeries::new(series.clone(), BLUE.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .draw_series(series.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    })
}

/// Draws a reliability diagram: for each confidence bin, the share of right
/// predictions against the mean confidence, raw (grey) and calibrated
/// (blue), with the diagonal a calibrated model follows.
pub fn reliability(
    raw: &[cad_core::openset::confidence::ReliabilityBin],
    calibrated: &[cad_core::openset::confidence::ReliabilityBin],
    path: &Path,
) -> Result<()> {
    let pts = |bins: &[cad_core::openset::confidence::ReliabilityBin]| -> Vec<(f64, f64)> {
        bins.iter().filter_map(|b| Some((b.confidence?, b.accuracy?))).collect()
    };
    let (raw, calibrated) = (pts(raw), pts(calibrated));
    on_backend!(path, (700, 640), |root| {
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Reliability (held-out containers)", ("sans-serif", 24))
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..1.0, 0f64..1.0)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("confidence (mean per bin of 0.1)")
            .y_desc("share right")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4)))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let lines = [(raw, RGBColor(150, 150, 150), "raw"), (calibrated, BLUE, "calibrated")];
        labelled_lines(&mut chart, &lines, SeriesLabelPosition::UpperLeft)?;
    })
}

/// A line of a chart: its points, colour and label.
type Line<'a> = (Vec<(f64, f64)>, RGBColor, &'a str);

/// Draws each `(points, colour, label)` as a line with its points, and the legend.
fn labelled_lines<'a, DB: DrawingBackend + 'a, X: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    lines: &[Line<'_>],
    legend: SeriesLabelPosition,
) -> Result<()> {
    for (series, color, label) in lines {
        let color = *color;
        chart
            .draw_series(LineSeries::new(series.iter().copied(), color.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(*label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart
            .draw_series(series.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Draws the trade-off of the false-anomaly rate α (log scale) against the
/// recall of unknown services and impostors and the honest containers
/// actually flagged.
pub fn tradeoff(rates: &[cad_core::openset::evaluate::Rates], path: &Path) -> Result<()> {
    if rates.is_empty() {
        bail!("the trade-off has no points to plot");
    }
    let lo = rates.iter().map(|r| r.alpha).fold(f64::INFINITY, f64::min).max(1e-6);
    let hi = rates.iter().map(|r| r.alpha).fold(0.0, f64::max).max(lo * 2.0);
    type Pick = fn(&cad_core::openset::evaluate::Rates) -> Option<f64>;
    let lines: [(&str, RGBColor, Pick); 3] = [
        ("unknown services flagged", BLUE, |r| r.unknown_recall),
        ("impostors flagged", RGBColor(0, 150, 0), |r| r.impostor_recall),
        ("honest containers flagged", RED, |r| r.honest_flag_rate),
    ];
    on_backend!(path, (900, 560), |root| {
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("False-anomaly rate vs recall (leave one class out)", ("sans-serif", 22))
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..1.0)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("false-anomaly rate α (--false-anomaly-rate)")
            .y_desc("share of containers")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let lines: Vec<Line<'_>> = lines
            .iter()
            .map(|&(label, color, pick)| {
                let series = rates.iter().filter_map(|r| Some((r.alpha, pick(r)?))).collect();
                (series, color, label)
            })
            .collect();
        labelled_lines(&mut chart, &lines, SeriesLabelPosition::MiddleRight)?;
    })
}

/// Draws a confusion matrix as a heat map: rows are the true classes,
/// columns the predicted ones, each cell with its count while cells are big
/// enough. Returns `false` (and draws nothing) past [`MAX_PLOT_CLASSES`].
pub fn confusion_matrix(classes: &[String], counts: &[Vec<u64>], title: &str, path: &Path) -> Result<bool> {
    let n = classes.len();
    if n == 0 || counts.len() != n || counts.iter().any(|r| r.len() != n) {
        bail!("the confusion matrix must be square with one row per class");
    }
    if n > MAX_PLOT_CLASSES {
        return Ok(false);
    }
    let (left, top) = (150u32, 50u32);
    let cell = ((MAX_SIDE - left - 20) / n as u32).clamp(1, 90);
    let with_counts = cell >= 40;
    let with_names = cell >= 12;
    let font = (cell as f64 * 0.6).clamp(8.0, 15.0);
    let size = (left + 20 + cell * n as u32, top + 90 + cell * n as u32);
    on_backend!(path, size, |root| {
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let root = root
            .titled(title, ("sans-serif", 22))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let (left, top, c) = (left as i32, top as i32, cell as i32);
        for (i, row) in counts.iter().enumerate() {
            let total: u64 = row.iter().sum();
            for (j, &count) in row.iter().enumerate() {
                let share = if total == 0 { 0.0 } else { count as f64 / total as f64 };
                let x0 = left + j as i32 * c;
                let y0 = top + i as i32 * c;
                let shade = (255.0 * (1.0 - 0.8 * share)) as u8;
                let color = if i == j {
                    RGBColor(shade, 255, shade)
                } else {
                    RGBColor(255, shade, shade)
                };
                root.draw(&Rectangle::new([(x0, y0), (x0 + c, y0 + c)], color.filled()))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if with_counts {
                    root.draw(&Rectangle::new([(x0, y0), (x0 + c, y0 + c)], BLACK.stroke_width(1)))
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    root.draw(&Text::new(
                        count.to_string(),
                        (x0 + c / 2 - 10, y0 + c / 2 - 8),
                        ("sans-serif", 16),
                    ))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                }
            }
            if with_names {
                root.draw(&Text::new(
                    short(&classes[i]),
                    (10, top + i as i32 * c + c / 2 - font as i32 / 2),
                    ("sans-serif", font),
                ))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
        if with_names {
            for (j, name) in classes.iter().enumerate() {
                root.draw(&Text::new(
                    short(name),
                    (left + j as i32 * c + 2, top - 22),
                    ("sans-serif", font),
                ))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
        root.draw(&Text::new("true ↓  predicted →", (10, top - 22), ("sans-serif", 13)))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    })?;
    Ok(true)
}

/// A class name cut to fit beside the matrix.
fn short(name: &str) -> String {
    match name.char_indices().nth(18) {
        Some((i, _)) => format!("{}…", &name[..i]),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_written_as_svg_and_png() {
        let dir = std::env::temp_dir().join(format!("cad-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pts = [(1, 0.2), (10, 0.5), (100, 0.8), (1000, 0.95)];
        learning_curve(&pts, "Learning curve", &dir.join("c.svg")).unwrap();
        use cad_core::openset::confidence::{Outcome, reliability as bins};
        let outcomes: Vec<Outcome> = (0..100)
            .map(|i| Outcome {
                confidence: i as f64 / 100.0,
                correct: i % 3 != 0,
            })
            .collect();
        reliability(&bins(&outcomes), &bins(&outcomes), &dir.join("r.svg")).unwrap();
        let rates: Vec<cad_core::openset::evaluate::Rates> = [0.001, 0.01, 0.1]
            .iter()
            .map(|&alpha| cad_core::openset::evaluate::Rates {
                alpha,
                unclaimed_alpha: alpha,
                unknown_recall: Some(0.5 + alpha),
                false_unknown_rate: Some(alpha),
                honest_flag_rate: Some(alpha),
                impostor_recall: None,
            })
            .collect();
        tradeoff(&rates, &dir.join("t.png")).unwrap();
        assert!(tradeoff(&[], &dir.join("t2.png")).is_err());
        learning_curve(&pts, "Learning curve", &dir.join("c.png")).unwrap();
        let classes = vec!["mysql".to_string(), "nginx".to_string()];
        confusion_matrix(&classes, &[vec![5, 1], vec![0, 7]], "Confusion", &dir.join("m.png")).unwrap();
        let svg = std::fs::read_to_string(dir.join("c.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("training rows"));
        let png = std::fs::read(dir.join("m.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(learning_curve(&pts, "x", &dir.join("c.txt")).is_err());
        assert!(confusion_matrix(&classes, &[vec![1]], "x", &dir.join("m.svg")).is_err());
        // Only the plots are left: no temporaries.
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["c.png", "c.svg", "m.png", "r.svg", "t.png"]);
        if std::env::var_os("CAD_KEEP_PLOTS").is_none() {
            std::fs::remove_dir_all(&dir).ok();
        }
    }

    /// 1,000 classes panicked in plotters (an image of 90,220 pixels a side);
    /// 300 took 2.2 GB for the raster. Now the image stays within MAX_SIDE,
    /// and past MAX_PLOT_CLASSES nothing is drawn.
    #[test]
    fn many_classes_give_a_bounded_plot_or_none() {
        let dir = std::env::temp_dir().join(format!("cad-plot-many-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for n in [31, MAX_PLOT_CLASSES, MAX_PLOT_CLASSES + 1, 1000] {
            let classes: Vec<String> = (0..n).map(|i| format!("class-with-a-long-name-{i}")).collect();
            let counts: Vec<Vec<u64>> = (0..n)
                .map(|i| (0..n).map(|j| u64::from(i == j) * 3).collect())
                .collect();
            let png = dir.join(format!("m{n}.png"));
            let drawn = confusion_matrix(&classes, &counts, "many", &png).unwrap();
            assert_eq!(drawn, n <= MAX_PLOT_CLASSES, "{n}");
            if drawn {
                let bytes = std::fs::read(&png).unwrap();
                // PNG header: width and height, big-endian, at bytes 16..24.
                let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
                let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
                assert!(w <= MAX_SIDE && h <= MAX_SIDE + 200, "{n} classes: {w}×{h}");
            } else {
                assert!(!png.exists());
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}

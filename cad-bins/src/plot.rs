//! Plots people would rather look at than read: the learning curve and the
//! confusion matrix, as SVG or PNG (chosen by the file extension).
//!
//! Pure Rust: `plotters` without its `ttf` feature (which links fontconfig and
//! freetype) and DejaVu Sans bundled with `include_bytes!` (licence in
//! `assets/DejaVuSans.LICENSE`).

use anyhow::{Context, Result, bail};
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

macro_rules! on_backend {
    ($path:expr, $size:expr, |$root:ident| $body:block) => {{
        register_font();
        match format_of($path)? {
            Format::Svg => {
                let $root = SVGBackend::new($path, $size).into_drawing_area();
                $body
                $root.present().with_context(|| format!("writing {}", $path.display()))?;
            }
            Format::Png => {
                let $root = BitMapBackend::new($path, $size).into_drawing_area();
                $body
                $root.present().with_context(|| format!("writing {}", $path.display()))?;
            }
        }
        Ok(())
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

/// Draws a confusion matrix as a heat map: rows are the true classes,
/// columns the predicted ones, each cell with its count.
pub fn confusion_matrix(classes: &[String], counts: &[Vec<u64>], title: &str, path: &Path) -> Result<()> {
    let n = classes.len();
    if n == 0 || counts.len() != n || counts.iter().any(|r| r.len() != n) {
        bail!("the confusion matrix must be square with one row per class");
    }
    let cell = 90u32;
    let size = (220 + cell * n as u32, 140 + cell * n as u32);
    on_backend!(path, size, |root| {
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let root = root
            .titled(title, ("sans-serif", 22))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let (w, h) = root.dim_in_pixel();
        let left = 150i32;
        let top = 50i32;
        let cw = ((w as i32 - left - 20) / n as i32).max(10);
        let ch = ((h as i32 - top - 20) / n as i32).max(10);
        for (i, row) in counts.iter().enumerate() {
            let total: u64 = row.iter().sum();
            for (j, &c) in row.iter().enumerate() {
                let share = if total == 0 { 0.0 } else { c as f64 / total as f64 };
                let x0 = left + j as i32 * cw;
                let y0 = top + i as i32 * ch;
                let shade = (255.0 * (1.0 - 0.8 * share)) as u8;
                let color = if i == j {
                    RGBColor(shade, 255, shade)
                } else {
                    RGBColor(255, shade, shade)
                };
                root.draw(&Rectangle::new([(x0, y0), (x0 + cw, y0 + ch)], color.filled()))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                root.draw(&Rectangle::new([(x0, y0), (x0 + cw, y0 + ch)], BLACK.stroke_width(1)))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                root.draw(&Text::new(
                    c.to_string(),
                    (x0 + cw / 2 - 10, y0 + ch / 2 - 8),
                    ("sans-serif", 16),
                ))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            root.draw(&Text::new(
                classes[i].clone(),
                (10, top + i as i32 * ch + ch / 2 - 8),
                ("sans-serif", 15),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        for (j, c) in classes.iter().enumerate() {
            root.draw(&Text::new(
                c.clone(),
                (left + j as i32 * cw + 4, top - 22),
                ("sans-serif", 15),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        root.draw(&Text::new("true ↓  predicted →", (10, top - 22), ("sans-serif", 13)))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    })
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
        learning_curve(&pts, "Learning curve", &dir.join("c.png")).unwrap();
        let classes = vec!["mysql".to_string(), "nginx".to_string()];
        confusion_matrix(&classes, &[vec![5, 1], vec![0, 7]], "Confusion", &dir.join("m.png")).unwrap();
        let svg = std::fs::read_to_string(dir.join("c.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("training rows"));
        let png = std::fs::read(dir.join("m.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(learning_curve(&pts, "x", &dir.join("c.txt")).is_err());
        assert!(confusion_matrix(&classes, &[vec![1]], "x", &dir.join("m.svg")).is_err());
        if std::env::var_os("CAD_KEEP_PLOTS").is_none() {
            std::fs::remove_dir_all(&dir).ok();
        }
    }
}

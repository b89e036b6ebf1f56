//! From RetinaFace head outputs to faces: prior boxes, offset decoding and
//! non-maximum suppression.
//!
//! Priors: at each level (strides 8, 16, 32) and each cell of a
//! `ceil(H / stride)` x `ceil(W / stride)` grid, row by row, two square anchors
//! centred on the cell (sizes 16/32, 64/128, 256/512 pixels). Offsets are
//! scaled by the variances 0.1 (centres, landmarks) and 0.2 (log sizes).

use super::error::Result;
use super::face::{BoundingBox, Face, Landmarks, Point};
use super::retinaface::HeadOutputs;

/// Strides of the three pyramid levels.
pub const STRIDES: [usize; 3] = [8, 16, 32];
/// Anchor sizes in pixels per level, two per cell.
pub const MIN_SIZES: [[f32; 2]; 3] = [[16.0, 32.0], [64.0, 128.0], [256.0, 512.0]];
const CENTER_VARIANCE: f32 = 0.1;
const SIZE_VARIANCE: f32 = 0.2;

/// A square anchor box: centre and side, in input pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    /// Centre x.
    pub cx: f32,
    /// Centre y.
    pub cy: f32,
    /// Side length.
    pub size: f32,
}

/// All anchors for an input of `width` x `height`, in head output order.
pub fn priors(width: usize, height: usize) -> Vec<Prior> {
    let mut out = Vec::new();
    for (stride, sizes) in STRIDES.iter().zip(MIN_SIZES) {
        for y in 0..height.div_ceil(*stride) {
            for x in 0..width.div_ceil(*stride) {
                for size in sizes {
                    let cx = (x as f32 + 0.5) * *stride as f32;
                    let cy = (y as f32 + 0.5) * *stride as f32;
                    out.push(Prior { cx, cy, size });
                }
            }
        }
    }
    out
}

/// Faces scoring above `score_threshold`, after NMS at `nms_threshold` IoU,
/// best first, in the coordinates of the network input (`width` x `height`).
pub fn decode(
    outputs: &HeadOutputs,
    width: usize,
    height: usize,
    score_threshold: f32,
    nms_threshold: f32,
) -> Result<Vec<Face>> {
    let priors = priors(width, height);
    let conf = outputs.conf.to_vec2::<f32>()?;
    let loc = outputs.loc.to_vec2::<f32>()?;
    let landmarks = outputs.landmarks.to_vec2::<f32>()?;
    if priors.len() != conf.len() {
        let msg = format!(
            "{} anchors for {} priors of {width}x{height}",
            conf.len(),
            priors.len()
        );
        return Err(candle_core::Error::Msg(msg).into());
    }
    let mut faces: Vec<Face> = (0..priors.len())
        .filter(|&i| conf[i][1] > score_threshold)
        .map(|i| decode_one(&priors[i], &loc[i], &landmarks[i], conf[i][1]))
        .collect();
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(suppress(faces, nms_threshold))
}

fn decode_one(prior: &Prior, loc: &[f32], landmarks: &[f32], score: f32) -> Face {
    let offset = |dx: f32, dy: f32| {
        Point::new(
            prior.cx + dx * CENTER_VARIANCE * prior.size,
            prior.cy + dy * CENTER_VARIANCE * prior.size,
        )
    };
    let center = offset(loc[0], loc[1]);
    let w = prior.size * (loc[2] * SIZE_VARIANCE).exp();
    let h = prior.size * (loc[3] * SIZE_VARIANCE).exp();
    let points = [0, 1, 2, 3, 4].map(|k| offset(landmarks[2 * k], landmarks[2 * k + 1]));
    Face {
        bbox: BoundingBox {
            x: center.x - w / 2.0,
            y: center.y - h / 2.0,
            width: w,
            height: h,
        },
        score,
        landmarks: Landmarks::from_array(points),
    }
}

/// Greedy NMS over faces sorted best first: keeps a face unless it overlaps a
/// kept one by more than `threshold` IoU.
pub fn suppress(sorted: Vec<Face>, threshold: f32) -> Vec<Face> {
    let mut kept: Vec<Face> = Vec::new();
    for face in sorted {
        if kept.iter().all(|k| k.bbox.iou(&face.bbox) <= threshold) {
            kept.push(face);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_count_and_order() {
        let p = priors(256, 300);
        assert_eq!(p.len(), 2 * (32 * 38 + 16 * 19 + 8 * 10));
        assert_eq!(
            p[0],
            Prior {
                cx: 4.0,
                cy: 4.0,
                size: 16.0
            }
        );
        assert_eq!(
            p[1],
            Prior {
                cx: 4.0,
                cy: 4.0,
                size: 32.0
            }
        );
        assert_eq!(p[2].cx, 12.0);
        assert_eq!(p[2 * 32].cy, 12.0);
    }

    #[test]
    fn nms_drops_overlaps_keeps_others() {
        let face = |x: f32, score| Face {
            bbox: BoundingBox::from_corners(x, 0.0, x + 10.0, 10.0),
            score,
            landmarks: Landmarks::default(),
        };
        let kept = suppress(vec![face(0.0, 0.9), face(1.0, 0.8), face(50.0, 0.7)], 0.4);
        assert_eq!(kept.iter().map(|f| f.score).collect::<Vec<_>>(), vec![0.9, 0.7]);
    }
}

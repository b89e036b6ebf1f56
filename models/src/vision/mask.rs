//! A soft person mask: one value in 0..1 per pixel (1 = person).

use image::GrayImage;

/// Per-pixel person probability, row-major, at a given resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    width: u32,
    height: u32,
    values: Vec<f32>,
}

impl Mask {
    /// A mask from row-major values; `None` when the length is not `width * height`.
    pub fn from_vec(width: u32, height: u32, values: Vec<f32>) -> Option<Self> {
        (values.len() == width as usize * height as usize).then_some(Self {
            width,
            height,
            values,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The values, row by row.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The value at (`x`, `y`); panics outside the mask.
    pub fn get(&self, x: u32, y: u32) -> f32 {
        assert!(x < self.width && y < self.height, "({x}, {y}) outside the mask");
        self.values[y as usize * self.width as usize + x as usize]
    }

    /// The fraction of the frame covered by the person: the mean of the soft
    /// values, in 0..1.
    pub fn coverage(&self) -> f32 {
        if self.values.is_empty() {
            return 0.0;
        }
        (self.values.iter().map(|&v| f64::from(v)).sum::<f64>() / self.values.len() as f64) as f32
    }

    /// Mean of the values inside the rectangle `x0..x1` x `y0..y1` (clamped to
    /// the mask; 0 when empty).
    pub fn mean_in(&self, x0: u32, y0: u32, x1: u32, y1: u32) -> f32 {
        let (x1, y1) = (x1.min(self.width), y1.min(self.height));
        if x0 >= x1 || y0 >= y1 {
            return 0.0;
        }
        let sum: f64 = (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .map(|(x, y)| f64::from(self.get(x, y)))
            .sum();
        (sum / (f64::from(x1 - x0) * f64::from(y1 - y0))) as f32
    }

    /// The mask as an 8-bit grey image (0 = background, 255 = person).
    pub fn to_image(&self) -> GrayImage {
        let bytes = self
            .values
            .iter()
            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        GrayImage::from_raw(self.width, self.height, bytes).expect("length checked at construction")
    }

    /// Bilinear resize to `width` x `height` (pixel centres aligned, edges clamped).
    pub fn resized(&self, width: u32, height: u32) -> Mask {
        let (sw, sh) = (self.width as usize, self.height as usize);
        let axis = |out: u32, inp: usize| -> Vec<(usize, usize, f32)> {
            let scale = inp as f32 / out as f32;
            (0..out)
                .map(|i| {
                    let src = ((i as f32 + 0.5) * scale - 0.5).clamp(0.0, (inp - 1) as f32);
                    let i0 = src.floor() as usize;
                    (i0, (i0 + 1).min(inp - 1), src - i0 as f32)
                })
                .collect()
        };
        let (xs, ys) = (axis(width, sw), axis(height, sh));
        let mut values = Vec::with_capacity(width as usize * height as usize);
        for &(y0, y1, fy) in &ys {
            let (r0, r1) = (
                &self.values[y0 * sw..(y0 + 1) * sw],
                &self.values[y1 * sw..(y1 + 1) * sw],
            );
            for &(x0, x1, fx) in &xs {
                let top = r0[x0] + (r0[x1] - r0[x0]) * fx;
                let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx;
                values.push(top + (bottom - top) * fy);
            }
        }
        Mask {
            width,
            height,
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_is_the_mean() {
        let m = Mask::from_vec(2, 2, vec![1.0, 0.0, 0.5, 0.5]).unwrap();
        assert_eq!(m.coverage(), 0.5);
        assert!(Mask::from_vec(2, 2, vec![0.0]).is_none());
    }

    #[test]
    fn resize_keeps_constants_and_doubles_smoothly() {
        let m = Mask::from_vec(2, 1, vec![0.0, 1.0]).unwrap();
        let r = m.resized(4, 2);
        assert_eq!(r.values(), &[0.0, 0.25, 0.75, 1.0, 0.0, 0.25, 0.75, 1.0]);
    }
}

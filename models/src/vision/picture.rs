//! Small image helpers shared by the detector and the segmenter.

use std::borrow::Cow;

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use super::error::{Result, VisionError};

/// Fails on images without pixels.
pub(crate) fn ensure_not_empty(image: &RgbImage) -> Result<()> {
    let (width, height) = image.dimensions();
    if width == 0 || height == 0 {
        return Err(VisionError::EmptyImage { width, height });
    }
    Ok(())
}

/// `image` at `width` x `height` (bilinear, area-weighted when shrinking,
/// SIMD through `fast_image_resize`); borrowed unchanged when it already has
/// that size.
pub(crate) fn resized(image: &RgbImage, width: u32, height: u32) -> Cow<'_, RgbImage> {
    if image.dimensions() == (width, height) {
        return Cow::Borrowed(image);
    }
    let mut out = RgbImage::new(width, height);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    match Resizer::new().resize(image, &mut out, &options) {
        Ok(()) => Cow::Owned(out),
        // Only a zero-sized image can fail, and callers reject those first.
        Err(_) => Cow::Owned(image::imageops::resize(
            image,
            width,
            height,
            image::imageops::FilterType::Triangle,
        )),
    }
}

/// The size that makes the longer side `long_side`, keeping the aspect ratio.
pub fn fit_long_side(width: u32, height: u32, long_side: u32) -> (u32, u32) {
    let scale = long_side as f64 / width.max(height) as f64;
    let side = |n: u32| ((n as f64 * scale).round() as u32).max(1);
    (side(width), side(height))
}

/// [`fit_long_side`] for a larger size; a size already within `long_side` is kept.
pub fn shrink_to_fit(width: u32, height: u32, long_side: u32) -> (u32, u32) {
    if width.max(height) > long_side {
        fit_long_side(width, height, long_side)
    } else {
        (width, height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizing_keeps_flat_colours() {
        let image = RgbImage::from_pixel(30, 20, image::Rgb([10, 200, 90]));
        let small = resized(&image, 7, 5);
        assert_eq!(small.dimensions(), (7, 5));
        assert!(small.pixels().all(|p| p.0 == [10, 200, 90]));
        assert!(matches!(resized(&image, 30, 20), Cow::Borrowed(_)));
    }

    #[test]
    fn long_side_fits() {
        assert_eq!(fit_long_side(1024, 768, 640), (640, 480));
        assert_eq!(fit_long_side(512, 600, 640), (546, 640));
        assert_eq!(fit_long_side(2000, 1, 640), (640, 1));
        assert_eq!(shrink_to_fit(2000, 1000, 640), (640, 320));
        assert_eq!(shrink_to_fit(300, 200, 640), (300, 200));
    }
}

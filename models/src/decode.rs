//! Decoding an upload safely: format sniffing, size and pixel limits checked before the full
//! decode (a decompression bomb is refused from its header), EXIF orientation applied, and a
//! metadata-free re-encoding for storage.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

/// Limits an upload must respect; checked in this order, cheapest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted file.
    pub max_bytes: usize,
    /// Largest accepted width or height.
    pub max_side: u32,
    /// Largest accepted width times height.
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_bytes: 20 * 1024 * 1024,
            max_side: 12_000,
            max_pixels: 50_000_000,
        }
    }
}

/// Why an upload cannot be used as a photo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Zero bytes.
    #[error("the file is empty")]
    Empty,
    /// Larger than [`DecodeLimits::max_bytes`].
    #[error("the file has {bytes} bytes, more than the {max} allowed")]
    TooLarge {
        /// Size of the upload.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// HEIC/HEIF (iPhone default): not decodable here.
    #[error("HEIC/HEIF photos are not supported")]
    Heic,
    /// Not a format we read (or not an image at all).
    #[error("not a JPEG, PNG or WebP image")]
    NotAnImage,
    /// An animation (GIF, animated WebP).
    #[error("animated images are not supported")]
    Animated,
    /// Dimensions over the limits (checked from the header).
    #[error("the image is {width}x{height}, larger than allowed")]
    TooManyPixels {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },
    /// The header was fine but the data is broken or cut short.
    #[error("the image data is damaged or cut short: {0}")]
    Corrupt(String),
}

/// A decoded, upright photo.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Pixels, EXIF orientation applied.
    pub image: RgbImage,
    /// The format the upload was in.
    pub format: ImageFormat,
}

/// Decodes an upload within `limits`.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(DecodeError::TooLarge {
            bytes: bytes.len(),
            max: limits.max_bytes,
        });
    }
    if is_heic(bytes) {
        return Err(DecodeError::Heic);
    }
    let format = image::guess_format(bytes).map_err(|_| DecodeError::NotAnImage)?;
    match format {
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP => {}
        ImageFormat::Gif => return decode_gif(bytes, limits),
        _ => return Err(DecodeError::NotAnImage),
    }
    if format == ImageFormat::WebP && is_animated_webp(bytes) {
        return Err(DecodeError::Animated);
    }
    if format == ImageFormat::Png && is_animated_png(bytes) {
        return Err(DecodeError::Animated);
    }
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    img.apply_orientation(orientation);
    Ok(Decoded {
        image: img.into_rgb8(),
        format,
    })
}

fn check_dimensions(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), DecodeError> {
    let too_big = width == 0
        || height == 0
        || width > limits.max_side
        || height > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels;
    if too_big {
        return Err(DecodeError::TooManyPixels { width, height });
    }
    Ok(())
}

fn decode_gif(bytes: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    use image::AnimationDecoder;
    let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(bytes))
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    let mut frames = decoder.into_frames();
    let first = frames
        .next()
        .ok_or_else(|| DecodeError::Corrupt("no frame".into()))?
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    if frames.next().is_some() {
        return Err(DecodeError::Animated);
    }
    Ok(Decoded {
        image: DynamicImage::ImageRgba8(first.into_buffer()).into_rgb8(),
        format: ImageFormat::Gif,
    })
}

/// ISO-BMFF `ftyp` brands of HEIF/HEIC/AVIF-style containers.
fn is_heic(bytes: &[u8]) -> bool {
    bytes.len() >= 12
        && &bytes[4..8] == b"ftyp"
        && matches!(
            &bytes[8..12],
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"mif1" | b"msf1" | b"heim" | b"heis"
        )
}

fn is_animated_webp(bytes: &[u8]) -> bool {
    // RIFF....WEBPVP8X with the animation flag (bit 1 of the first flags byte).
    bytes.len() >= 21 && &bytes[12..16] == b"VP8X" && bytes[20] & 0b10 != 0
}

fn is_animated_png(bytes: &[u8]) -> bool {
    // An `acTL` chunk before the first `IDAT` marks an APNG.
    let mut pos = 8;
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]]) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        if kind == b"acTL" {
            return true;
        }
        if kind == b"IDAT" {
            return false;
        }
        pos = pos.saturating_add(12).saturating_add(len);
    }
    false
}

/// Encodes pixels as PNG: no EXIF, no GPS, nothing from the upload but the pixels.
pub fn encode_png(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .expect("PNG encoding into memory cannot fail");
    out
}

/// Encodes pixels as a baseline JPEG at `quality` (1-100): no metadata is written.
pub fn encode_jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100));
    image
        .write_with_encoder(encoder)
        .expect("JPEG encoding into memory cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        encode_png(&RgbImage::from_pixel(w, h, image::Rgb([10, 200, 30])))
    }

    #[test]
    fn decodes_a_png_and_reencodes_without_metadata() {
        let decoded = decode(&png(40, 30), &DecodeLimits::default()).unwrap();
        assert_eq!(decoded.image.dimensions(), (40, 30));
        let jpeg = encode_jpeg(&decoded.image, 92);
        assert!(!jpeg.windows(4).any(|w| w == b"Exif"));
        assert_eq!(
            decode(&jpeg, &DecodeLimits::default())
                .unwrap()
                .image
                .dimensions(),
            (40, 30)
        );
    }

    #[test]
    fn refuses_bad_uploads_with_specific_errors() {
        let limits = DecodeLimits::default();
        assert_eq!(decode(&[], &limits).unwrap_err(), DecodeError::Empty);
        assert_eq!(
            decode(b"hello, not an image", &limits).unwrap_err(),
            DecodeError::NotAnImage
        );
        let mut heic = vec![0, 0, 0, 24];
        heic.extend_from_slice(b"ftypheic0000");
        assert_eq!(decode(&heic, &limits).unwrap_err(), DecodeError::Heic);
        let good = png(64, 64);
        assert!(matches!(
            decode(&good[..good.len() / 2], &limits),
            Err(DecodeError::Corrupt(_))
        ));
        let small = DecodeLimits {
            max_bytes: 10,
            ..limits
        };
        assert!(matches!(decode(&good, &small), Err(DecodeError::TooLarge { .. })));
    }

    #[test]
    fn a_bomb_is_refused_from_its_header() {
        // A 20000x20000 PNG compresses to a few hundred KB; the limit trips before decoding.
        let limits = DecodeLimits {
            max_side: 10_000,
            ..Default::default()
        };
        let bomb = encode_png(&RgbImage::new(10_001, 8));
        assert_eq!(
            decode(&bomb, &limits).unwrap_err(),
            DecodeError::TooManyPixels {
                width: 10_001,
                height: 8
            }
        );
    }
}

//! The metadata-free copy of an accepted selfie that the store keeps.
//!
//! A JPEG is cleaned without re-encoding: every application segment (EXIF with GPS and camera
//! serials, XMP, ICC, maker notes) and every comment is dropped and the compressed image data
//! is copied as is, so there is no generation loss and no encoding time; anything appended after
//! the image (motion-photo videos, depth maps) is dropped. When the photo was
//! stored rotated, a minimal EXIF block holding only the orientation tag is written back so
//! the copy still decodes upright. Other formats are re-encoded as PNG from the upright pixels.

use std::io::Cursor;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ImageDecoder, ImageFormat, ImageReader, RgbImage};

/// The clean copy of `upload`, whose upright pixels are `image` and format `format`.
pub fn clean_copy(upload: &[u8], format: ImageFormat, image: &RgbImage) -> Vec<u8> {
    if format == ImageFormat::Jpeg {
        let orientation = jpeg_orientation(upload);
        if let Some(clean) = strip_jpeg(upload, orientation) {
            return clean;
        }
    }
    let mut out = Vec::new();
    let encoder = PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive);
    image
        .write_with_encoder(encoder)
        .expect("PNG encoding into memory cannot fail");
    out
}

/// Whether a JPEG's image data reaches its end-of-image marker. The decoder fills a JPEG cut
/// short with grey and reports no error, so intake checks this itself.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    strip_jpeg(bytes, 1).is_some()
}

/// The EXIF orientation value (1-8) of a JPEG, 1 when absent.
fn jpeg_orientation(bytes: &[u8]) -> u8 {
    ImageReader::with_format(Cursor::new(bytes), ImageFormat::Jpeg)
        .into_decoder()
        .and_then(|mut d| d.orientation())
        .map(|o| o.to_exif())
        .unwrap_or(1)
}

/// Segments kept before the image data: everything but APPn and COM, except the JFIF header
/// (APP0) and Adobe's colour-transform flag (APP14), which change how the pixels decode.
fn keep_segment(marker: u8, payload: &[u8]) -> bool {
    match marker {
        0xE0 => payload.starts_with(b"JFIF\0"),
        0xEE => payload.starts_with(b"Adobe"),
        0xE1..=0xEF | 0xFE => false,
        _ => true,
    }
}

/// `bytes` without metadata segments; `None` when the structure is not as expected.
pub fn strip_jpeg(bytes: &[u8], orientation: u8) -> Option<Vec<u8>> {
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut exif_written = orientation == 1;
    let mut pos = 2;
    loop {
        if *bytes.get(pos)? != 0xFF {
            return None;
        }
        let mut marker_at = pos + 1;
        while *bytes.get(marker_at)? == 0xFF {
            marker_at += 1;
        }
        let marker = bytes[marker_at];
        let start = marker_at + 1;
        if (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            out.extend_from_slice(&[0xFF, marker]);
            pos = start;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*bytes.get(start)?, *bytes.get(start + 1)?]));
        if len < 2 || start + len > bytes.len() {
            return None;
        }
        let payload = &bytes[start + 2..start + len];
        // The orientation goes right after the JFIF header (or first, without one).
        let is_jfif = marker == 0xE0 && payload.starts_with(b"JFIF\0");
        if !exif_written && !is_jfif {
            out.extend_from_slice(&orientation_segment(orientation));
            exif_written = true;
        }
        if marker == 0xDA {
            // Start of scan: image data (and later scans) up to the end-of-image marker, copied
            // unchanged. Inside scans a 0xFF byte is always followed by 0x00 or a restart
            // marker, so the first FF D9 is the end of the image; whatever follows it (a motion
            // photo's video, depth maps, other appended images) is left behind.
            let end = bytes[pos..].windows(2).position(|w| w == [0xFF, 0xD9])? + pos + 2;
            out.extend_from_slice(&bytes[pos..end]);
            return Some(out);
        }
        if keep_segment(marker, payload) {
            out.extend_from_slice(&[0xFF, marker]);
            out.extend_from_slice(&bytes[start..start + len]);
        }
        pos = start + len;
    }
}

/// An APP1 EXIF segment holding only the orientation tag (big-endian TIFF, one IFD entry).
fn orientation_segment(orientation: u8) -> Vec<u8> {
    let mut s = vec![0xFF, 0xE1, 0x00, 0x22];
    s.extend_from_slice(b"Exif\0\0");
    s.extend_from_slice(b"MM\0\x2a\0\0\0\x08");
    s.extend_from_slice(&[0x00, 0x01]); // one entry
    s.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01]); // tag, SHORT, count
    s.extend_from_slice(&[0x00, orientation, 0x00, 0x00]); // value, padding
    s.extend_from_slice(&[0x00, 0x00, 0x00, 0x00]); // no next IFD
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{DecodeLimits, decode, encode_jpeg};

    /// A JPEG with an EXIF segment (fake GPS text), a comment and `orientation`.
    fn tagged_jpeg(orientation: u8) -> (Vec<u8>, RgbImage) {
        let img = RgbImage::from_fn(24, 16, |x, y| image::Rgb([(x * 10) as u8, (y * 15) as u8, 99]));
        let plain = encode_jpeg(&img, 95);
        let mut exif = orientation_segment(orientation);
        // Grow the segment with a marker text standing for GPS data.
        exif.extend_from_slice(b"GPS 48.85N 2.35E");
        let len = (exif.len() - 2) as u16;
        exif[2..4].copy_from_slice(&len.to_be_bytes());
        let mut out = plain[..2].to_vec();
        out.extend_from_slice(&exif);
        out.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x0A]);
        out.extend_from_slice(b"secret!!");
        out.extend_from_slice(&plain[2..]);
        (out, img)
    }

    #[test]
    fn stripping_drops_metadata_and_keeps_the_pixels() {
        let limits = DecodeLimits::default();
        for orientation in [1, 6] {
            let (tagged, _) = tagged_jpeg(orientation);
            let before = decode(&tagged, &limits).unwrap();
            let clean = clean_copy(&tagged, ImageFormat::Jpeg, &before.image);
            assert!(!clean.windows(3).any(|w| w == b"GPS"));
            assert!(!clean.windows(6).any(|w| w == b"secret"));
            let after = decode(&clean, &limits).unwrap();
            assert_eq!(after.image, before.image, "orientation {orientation}");
            if orientation == 6 {
                assert_eq!(after.image.dimensions(), (16, 24));
            } else {
                assert!(!clean.windows(4).any(|w| w == b"Exif"));
            }
        }
    }

    #[test]
    fn data_appended_after_the_image_is_dropped() {
        let (mut tagged, _) = tagged_jpeg(1);
        let plain_len = tagged.len();
        tagged.extend_from_slice(b"ftypmp42 a motion photo video");
        let clean = strip_jpeg(&tagged, 1).unwrap();
        assert!(clean.ends_with(&[0xFF, 0xD9]) && clean.len() < plain_len);
        assert!(!clean.windows(4).any(|w| w == b"mp42"));
    }

    #[test]
    fn a_jpeg_cut_short_is_incomplete() {
        let (tagged, _) = tagged_jpeg(1);
        assert!(jpeg_is_complete(&tagged));
        assert!(!jpeg_is_complete(&tagged[..tagged.len() / 2]));
    }

    #[test]
    fn broken_structure_is_not_stripped() {
        assert_eq!(strip_jpeg(b"not a jpeg", 1), None);
        assert_eq!(strip_jpeg(&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF], 1), None);
    }
}

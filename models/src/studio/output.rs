//! Encoding the outputs: JPEG (sRGB, quality 92) or PNG, with nothing but the pixels (no EXIF,
//! no GPS, nothing carried over from the upload).

use image::RgbImage;

use crate::decode::{encode_jpeg, encode_png};

/// JPEG quality of the outputs: high enough that the JPEG adds nothing visible.
pub const JPEG_QUALITY: u8 = 92;

/// The file format of the outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Baseline JPEG at [`JPEG_QUALITY`]: small, what chats show.
    #[default]
    Jpeg,
    /// Lossless PNG.
    Png,
}

impl OutputFormat {
    /// Encodes `image` without metadata.
    pub fn encode(self, image: &RgbImage) -> Vec<u8> {
        match self {
            OutputFormat::Jpeg => encode_jpeg(image, JPEG_QUALITY),
            OutputFormat::Png => encode_png(image),
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Png => "png",
        }
    }

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
        }
    }
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_lowercase().as_str() {
            "jpeg" | "jpg" => Ok(OutputFormat::Jpeg),
            "png" => Ok(OutputFormat::Png),
            other => Err(format!("unknown format `{other}` (jpeg or png)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_encode_without_metadata() {
        assert_eq!("JPG".parse::<OutputFormat>().unwrap(), OutputFormat::Jpeg);
        assert_eq!("png".parse::<OutputFormat>().unwrap(), OutputFormat::Png);
        assert!("gif".parse::<OutputFormat>().is_err());
        let img = RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]));
        let jpeg = OutputFormat::Jpeg.encode(&img);
        assert!(jpeg.starts_with(&[0xFF, 0xD8]) && !jpeg.windows(4).any(|w| w == b"Exif"));
        assert!(OutputFormat::Png.encode(&img).starts_with(b"\x89PNG"));
    }
}

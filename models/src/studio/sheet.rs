//! A contact sheet for reviewers: many outputs on one image, in a grid, each labelled with a
//! tiny built-in bitmap font (no font files needed).

use image::{Rgb, RgbImage};

use super::resample::resize;

/// Space around and between tiles, in pixels.
const GAP: u32 = 8;
/// Sheet background.
const PAPER: Rgb<u8> = Rgb([236, 236, 236]);
/// Label colour.
const INK: Rgb<u8> = Rgb([30, 30, 30]);

/// One image of `tiles` (label, picture), each scaled to `tile_width` pixels wide, in rows of
/// up to six, with the label under each tile.
pub fn contact_sheet(tiles: &[(String, RgbImage)], tile_width: u32) -> RgbImage {
    let tile_width = tile_width.max(16);
    let scaled: Vec<(&str, RgbImage)> = tiles
        .iter()
        .filter(|(_, img)| img.width() > 0 && img.height() > 0)
        .map(|(label, img)| {
            let h = ((img.height() as f32 * tile_width as f32 / img.width() as f32).round() as u32).max(1);
            (label.as_str(), resize(img, tile_width, h))
        })
        .collect();
    if scaled.is_empty() {
        return RgbImage::from_pixel(GAP * 2, GAP * 2, PAPER);
    }
    let columns = (scaled.len() as f32).sqrt().ceil().clamp(1.0, 6.0) as u32;
    let rows = (scaled.len() as u32).div_ceil(columns);
    let scale = if tile_width >= 200 { 2 } else { 1 };
    let label_height = GLYPH_H * scale + 6;
    let tile_height = scaled.iter().map(|(_, t)| t.height()).max().unwrap_or(1);
    let cell = (tile_width + GAP, tile_height + label_height + GAP);
    let mut sheet = RgbImage::from_pixel(GAP + columns * cell.0, GAP + rows * cell.1, PAPER);
    for (i, (label, tile)) in scaled.iter().enumerate() {
        let (col, row) = (i as u32 % columns, i as u32 / columns);
        let (x, y) = (GAP + col * cell.0, GAP + row * cell.1);
        image::imageops::replace(&mut sheet, tile, i64::from(x), i64::from(y));
        draw_text(&mut sheet, label, x, y + tile_height + 3, scale, tile_width);
    }
    sheet
}

const GLYPH_W: u32 = 5;
const GLYPH_H: u32 = 7;

/// Draws `text` at (`x`, `y`) with pixels `scale` wide, clipped to `max_width`.
fn draw_text(sheet: &mut RgbImage, text: &str, x: u32, y: u32, scale: u32, max_width: u32) {
    let advance = (GLYPH_W + 1) * scale;
    for (i, ch) in text.chars().enumerate() {
        let left = i as u32 * advance;
        if left + GLYPH_W * scale > max_width {
            break;
        }
        let rows = glyph(ch);
        for (r, bits) in rows.iter().enumerate() {
            for c in 0..GLYPH_W {
                if bits & (1 << (GLYPH_W - 1 - c)) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (px, py) = (x + left + c * scale + dx, y + r as u32 * scale + dy);
                        if px < sheet.width() && py < sheet.height() {
                            sheet.put_pixel(px, py, INK);
                        }
                    }
                }
            }
        }
    }
}

/// 5x7 glyphs, one byte per row, the leftmost pixel in bit 4. Letters are drawn as capitals.
fn glyph(ch: char) -> [u8; 7] {
    match ch.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        ' ' => [0; 7],
        _ => [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_are_laid_out_in_a_grid_with_labels() {
        let tiles: Vec<(String, RgbImage)> = (0..5)
            .map(|i| {
                (
                    format!("style-{i}"),
                    RgbImage::from_pixel(40, 50, Rgb([200, 0, 0])),
                )
            })
            .collect();
        let sheet = contact_sheet(&tiles, 80);
        // Three columns (ceil(sqrt(5))), two rows; tiles 80x100, labels 13 px.
        assert_eq!(sheet.width(), GAP + 3 * (80 + GAP));
        assert_eq!(sheet.height(), GAP + 2 * (100 + 13 + GAP));
        assert_eq!(*sheet.get_pixel(GAP + 5, GAP + 5), Rgb([200, 0, 0]));
        let label_row = GAP + 100 + 3;
        let inked = (GAP..GAP + 80)
            .flat_map(|x| (label_row..label_row + 7).map(move |y| (x, y)))
            .filter(|&(x, y)| *sheet.get_pixel(x, y) == INK)
            .count();
        assert!(inked > 20);
        assert_eq!(contact_sheet(&[], 80).dimensions(), (16, 16));
    }
}

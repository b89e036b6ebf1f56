//! Decoding latents in overlapping tiles, and the memory a run needs.

use super::*;

/// [`Model::decode_tiled`] for any VAE and unscaled latents; f32 pixels (1,3,H,W).
pub fn decode_tiles(
    vae: &AutoEncoderKL,
    latents: &Tensor,
    factor: usize,
    tile: usize,
    overlap: usize,
) -> Result<Tensor, DiffusionError> {
    let (batch, _, h, w) = latents.dims4()?;
    if batch != 1 || tile <= overlap {
        return Err(DiffusionError::Config(format!(
            "tiled decoding takes one picture and a tile larger than its overlap (batch {batch}, tile {tile}, overlap {overlap})"
        )));
    }
    let f = factor;
    let spans = |len: usize| -> Vec<(usize, usize)> {
        if len <= tile {
            return vec![(0, len)];
        }
        let n = (len - overlap).div_ceil(tile - overlap);
        let size = (len + (n - 1) * overlap).div_ceil(n);
        (0..n)
            .map(|i| {
                let start = (i * (size - overlap)).min(len - size);
                (start, size)
            })
            .collect()
    };
    let (rows, cols) = (spans(h), spans(w));
    let mut sum = vec![0f32; 3 * h * f * w * f];
    let mut weight = vec![0f32; h * f * w * f];
    let (oh, ow) = (h * f, w * f);
    let ramp = |p: usize, start: usize, size: usize, len: usize| -> f32 {
        // Distance into the tile from each side that borders another tile.
        let o = (overlap * f) as f32;
        let lead = if start > 0 {
            ((p - start * f) as f32 + 0.5) / o
        } else {
            1.0
        };
        let trail = if start + size < len {
            (((start + size) * f - p) as f32 - 0.5) / o
        } else {
            1.0
        };
        lead.min(trail).clamp(0.0, 1.0).max(1e-3)
    };
    for &(y0, th) in &rows {
        for &(x0, tw) in &cols {
            let part = latents.narrow(2, y0, th)?.narrow(3, x0, tw)?;
            let pixels = vae.decode(&part)?;
            let data: Vec<f32> = pixels.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
            let (ph, pw) = (th * f, tw * f);
            for y in 0..ph {
                let gy = y0 * f + y;
                let wy = ramp(gy, y0, th, h);
                for x in 0..pw {
                    let gx = x0 * f + x;
                    let k = wy * ramp(gx, x0, tw, w);
                    weight[gy * ow + gx] += k;
                    for c in 0..3 {
                        sum[(c * oh + gy) * ow + gx] += k * data[(c * ph + y) * pw + x];
                    }
                }
            }
        }
    }
    for c in 0..3 {
        for (i, wgt) in weight.iter().enumerate() {
            sum[c * oh * ow + i] /= wgt;
        }
    }
    Ok(Tensor::from_vec(sum, (1, 3, oh, ow), latents.device())?)
}

impl Model {
    /// Rough bytes needed to run: weights plus the activations of one UNet input (or of the
    /// tiled VAE decode, if larger) for a `width`x`height` picture, for the dtype in use.
    pub fn memory_estimate(&self, width: usize, height: usize) -> usize {
        let bytes = if self.dtype == DType::F16 { 2 } else { 4 };
        self.parameters * bytes + self.activations(width, height, 1)
    }

    /// Rough bytes of the activations when `items` UNet inputs of a `width`x`height` picture run
    /// in one pass, or of the VAE decode, whichever is larger.
    pub fn activations(&self, width: usize, height: usize, items: usize) -> usize {
        (items * self.unet_item_bytes(width, height)).max(self.vae_bytes(width, height))
    }

    /// Peak activations of one UNet input: about 12 first-level attention score matrices
    /// (8 heads x (h/f * w/f)^2), measured on candle 0.11 at 512x640 in f32 (9.6 GB over the
    /// weights for one input; `cargo bench -p headshot-models --bench diffusion_sd15 -- unet1`).
    pub fn unet_item_bytes(&self, width: usize, height: usize) -> usize {
        let bytes = if self.dtype == DType::F16 { 2 } else { 4 };
        let cells = (width / self.factor) * (height / self.factor);
        12 * 8 * cells * cells * bytes
    }

    /// Peak activations of the VAE decode, which runs in tiles of at most [`TILE`] +
    /// [`OVERLAP`] cells a side: about 9,000 values per tile pixel (measured 3.6 GB for
    /// 352x288-pixel tiles in f32).
    pub fn vae_bytes(&self, width: usize, height: usize) -> usize {
        let bytes = if self.dtype == DType::F16 { 2 } else { 4 };
        let side = (TILE + OVERLAP) * self.factor;
        9_000 * width.min(side) * height.min(side) * bytes
    }
}

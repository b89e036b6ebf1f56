//! Our own serde view of the diffusers `config.json` files, turned into candle-transformers'
//! configurations. Unknown keys are ignored (diffusers writes many we do not need).

use std::path::Path;

use candle_transformers::models::clip::text_model::{Activation, ClipTextConfig};
use candle_transformers::models::stable_diffusion::ddim::DDIMSchedulerConfig;
use candle_transformers::models::stable_diffusion::schedulers::{BetaSchedule, PredictionType};
use candle_transformers::models::stable_diffusion::unet_2d::{BlockConfig, UNet2DConditionModelConfig};
use candle_transformers::models::stable_diffusion::vae::AutoEncoderKLConfig;
use serde::Deserialize;

use super::DiffusionError;

/// `attention_head_dim`: one number for every block, or one per block.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PerBlock {
    /// The same for every block.
    One(usize),
    /// One per down block.
    Each(Vec<usize>),
}

impl PerBlock {
    fn at(&self, i: usize) -> usize {
        match self {
            PerBlock::One(n) => *n,
            PerBlock::Each(v) => v.get(i).or(v.last()).copied().unwrap_or(8),
        }
    }
}

fn default_groups() -> usize {
    32
}
fn default_eps() -> f64 {
    1e-5
}
fn default_true() -> bool {
    true
}
fn default_one() -> f64 {
    1.0
}
fn default_layers() -> usize {
    2
}

/// `unet/config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct UnetJson {
    /// 9 for inpainting (latents, mask, masked-image latents), 4 otherwise.
    pub in_channels: usize,
    /// 4.
    pub out_channels: usize,
    /// Channels per down block.
    pub block_out_channels: Vec<usize>,
    /// `CrossAttnDownBlock2D` or `DownBlock2D` per block.
    pub down_block_types: Vec<String>,
    /// Resnets per block.
    #[serde(default = "default_layers")]
    pub layers_per_block: usize,
    /// Text embedding width.
    pub cross_attention_dim: usize,
    /// Heads (diffusers' historical name).
    pub attention_head_dim: PerBlock,
    /// Transformer layers per attention block.
    #[serde(default)]
    pub transformer_layers_per_block: Option<PerBlock>,
    /// Group-norm groups.
    #[serde(default = "default_groups")]
    pub norm_num_groups: usize,
    /// Group-norm epsilon.
    #[serde(default = "default_eps")]
    pub norm_eps: f64,
    /// Linear instead of 1x1-conv projections in attention blocks.
    #[serde(default)]
    pub use_linear_projection: bool,
    /// Timestep embedding detail.
    #[serde(default = "default_true")]
    pub flip_sin_to_cos: bool,
    /// Timestep embedding detail.
    #[serde(default)]
    pub freq_shift: f64,
    /// Input centring.
    #[serde(default)]
    pub center_input_sample: bool,
    /// Downsampler padding.
    #[serde(default = "default_pad")]
    pub downsample_padding: usize,
    /// Mid-block residual scale.
    #[serde(default = "default_one")]
    pub mid_block_scale_factor: f64,
    /// SDXL's size/crop conditioning (candle's UNet has no such input).
    #[serde(default)]
    pub addition_embed_type: Option<String>,
}

fn default_pad() -> usize {
    1
}

impl UnetJson {
    /// candle's configuration.
    pub fn to_candle(
        &self,
        sliced_attention: Option<usize>,
    ) -> Result<UNet2DConditionModelConfig, DiffusionError> {
        if self.block_out_channels.len() != self.down_block_types.len() {
            return Err(DiffusionError::Config(
                "unet: block_out_channels and down_block_types differ in length".into(),
            ));
        }
        if self
            .block_out_channels
            .iter()
            .any(|c| c % self.norm_num_groups != 0)
        {
            return Err(DiffusionError::Config(format!(
                "unet: channels {:?} must be multiples of norm_num_groups {}",
                self.block_out_channels, self.norm_num_groups
            )));
        }
        let blocks = self
            .block_out_channels
            .iter()
            .zip(&self.down_block_types)
            .enumerate()
            .map(|(i, (&out_channels, kind))| BlockConfig {
                out_channels,
                use_cross_attn: kind
                    .starts_with("CrossAttn")
                    .then(|| self.transformer_layers_per_block.as_ref().map_or(1, |t| t.at(i))),
                attention_head_dim: self.attention_head_dim.at(i),
            })
            .collect();
        Ok(UNet2DConditionModelConfig {
            center_input_sample: self.center_input_sample,
            flip_sin_to_cos: self.flip_sin_to_cos,
            freq_shift: self.freq_shift,
            blocks,
            layers_per_block: self.layers_per_block,
            downsample_padding: self.downsample_padding,
            mid_block_scale_factor: self.mid_block_scale_factor,
            norm_num_groups: self.norm_num_groups,
            norm_eps: self.norm_eps,
            cross_attention_dim: self.cross_attention_dim,
            sliced_attention_size: sliced_attention,
            use_linear_projection: self.use_linear_projection,
        })
    }
}

/// `vae/config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct VaeJson {
    /// Channels per block.
    pub block_out_channels: Vec<usize>,
    /// Resnets per block.
    #[serde(default = "default_layers")]
    pub layers_per_block: usize,
    /// 4.
    pub latent_channels: usize,
    /// Group-norm groups.
    #[serde(default = "default_groups")]
    pub norm_num_groups: usize,
    /// Latents are multiplied by it after encoding.
    #[serde(default = "default_scaling")]
    pub scaling_factor: f64,
}

fn default_scaling() -> f64 {
    0.18215
}

impl VaeJson {
    /// candle's configuration.
    pub fn to_candle(&self) -> AutoEncoderKLConfig {
        AutoEncoderKLConfig {
            block_out_channels: self.block_out_channels.clone(),
            layers_per_block: self.layers_per_block,
            latent_channels: self.latent_channels,
            norm_num_groups: self.norm_num_groups,
            use_quant_conv: true,
            use_post_quant_conv: true,
        }
    }

    /// Pixels per latent cell.
    pub fn factor(&self) -> usize {
        1 << (self.block_out_channels.len().saturating_sub(1))
    }
}

/// `text_encoder/config.json` (transformers' CLIPTextConfig).
#[derive(Debug, Clone, Deserialize)]
pub struct ClipJson {
    /// Vocabulary.
    pub vocab_size: usize,
    /// Width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Sequence length (77).
    pub max_position_embeddings: usize,
    /// `quick_gelu` (SD 1.5).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Projection width.
    #[serde(default)]
    pub projection_dim: usize,
    /// Start token.
    #[serde(default = "default_bos")]
    pub bos_token_id: u32,
    /// End token (and padding in SD 1.5).
    #[serde(default = "default_eos")]
    pub eos_token_id: u32,
}

fn default_act() -> String {
    "quick_gelu".into()
}
fn default_bos() -> u32 {
    49406
}
fn default_eos() -> u32 {
    49407
}

impl ClipJson {
    /// candle's configuration.
    pub fn to_candle(&self) -> Result<ClipTextConfig, DiffusionError> {
        if self.hidden_act != "quick_gelu" {
            return Err(DiffusionError::Config(format!(
                "text_encoder: activation `{}` is not supported (SD 1.5 uses quick_gelu)",
                self.hidden_act
            )));
        }
        Ok(ClipTextConfig {
            vocab_size: self.vocab_size,
            embed_dim: self.hidden_size,
            activation: Activation::QuickGelu,
            intermediate_size: self.intermediate_size,
            max_position_embeddings: self.max_position_embeddings,
            pad_with: None,
            num_hidden_layers: self.num_hidden_layers,
            num_attention_heads: self.num_attention_heads,
            projection_dim: self.projection_dim,
        })
    }
}

/// `scheduler/scheduler_config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerJson {
    /// Start of the beta schedule.
    pub beta_start: f64,
    /// End of the beta schedule.
    pub beta_end: f64,
    /// `scaled_linear`, `linear` or `squaredcos_cap_v2`.
    pub beta_schedule: String,
    /// Offset of inference timesteps.
    #[serde(default)]
    pub steps_offset: usize,
    /// `epsilon`, `v_prediction` or `sample`.
    #[serde(default = "default_pred")]
    pub prediction_type: String,
    /// Training steps (1000).
    #[serde(default = "default_train")]
    pub num_train_timesteps: usize,
}

fn default_pred() -> String {
    "epsilon".into()
}
fn default_train() -> usize {
    1000
}

impl SchedulerJson {
    /// candle's DDIM configuration (deterministic: eta 0).
    pub fn to_ddim(&self) -> Result<DDIMSchedulerConfig, DiffusionError> {
        let beta_schedule = match self.beta_schedule.as_str() {
            "scaled_linear" => BetaSchedule::ScaledLinear,
            "linear" => BetaSchedule::Linear,
            "squaredcos_cap_v2" => BetaSchedule::SquaredcosCapV2,
            other => {
                return Err(DiffusionError::Config(format!(
                    "scheduler: beta_schedule `{other}`"
                )));
            }
        };
        let prediction_type = match self.prediction_type.as_str() {
            "epsilon" => PredictionType::Epsilon,
            "v_prediction" => PredictionType::VPrediction,
            "sample" => PredictionType::Sample,
            other => {
                return Err(DiffusionError::Config(format!(
                    "scheduler: prediction_type `{other}`"
                )));
            }
        };
        Ok(DDIMSchedulerConfig {
            beta_start: self.beta_start,
            beta_end: self.beta_end,
            beta_schedule,
            eta: 0.0,
            steps_offset: self.steps_offset,
            prediction_type,
            train_timesteps: self.num_train_timesteps,
            ..DDIMSchedulerConfig::default()
        })
    }
}

/// Reads and parses one JSON file.
pub fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, DiffusionError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| DiffusionError::Missing(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| DiffusionError::Config(format!("{}: {e}", path.display())))
}

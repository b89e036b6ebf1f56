//! The compute device the generators run on, and what an operator needs to know about it.

use candle_core::Device;

/// What a device is, for `headshot device`, the admin page and logs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeviceInfo {
    /// "cpu" or "cuda:N".
    pub id: String,
    /// The CPU's thread count, or the GPU's name.
    pub name: String,
    /// The GPU's memory in GiB (none for the CPU).
    pub memory_gib: Option<f64>,
    /// The GPU's compute capability, such as "9.0" (none for the CPU).
    pub compute_capability: Option<String>,
}

impl std::fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}", self.id, self.name)?;
        if let Some(gib) = self.memory_gib {
            write!(f, ", {gib:.0} GiB")?;
        }
        if let Some(cc) = &self.compute_capability {
            write!(f, ", compute capability {cc}")?;
        }
        write!(f, ")")
    }
}

/// Whether this build can use CUDA GPUs (the `cuda` feature).
pub const CUDA_BUILD: bool = cfg!(feature = "cuda");

/// The first CUDA GPU when this build has CUDA and one is present, else the CPU.
pub fn best() -> Device {
    Device::cuda_if_available(0).unwrap_or(Device::Cpu)
}

/// Describes `device`.
pub fn describe(device: &Device) -> DeviceInfo {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(gpu) => cuda::describe(gpu),
        _ => DeviceInfo {
            id: "cpu".into(),
            name: format!("{} threads", candle_core::utils::get_num_threads()),
            memory_gib: None,
            compute_capability: None,
        },
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    use candle_core::cuda_backend::CudaDevice;
    use candle_core::cuda_backend::cudarc::driver::sys::CUdevice_attribute as Attribute;

    use super::DeviceInfo;

    /// Name, memory and compute capability from the driver.
    pub fn describe(gpu: &CudaDevice) -> DeviceInfo {
        let stream = gpu.cuda_stream();
        let context = stream.context();
        let attribute = |a| context.attribute(a).ok();
        let capability = attribute(Attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
            .zip(attribute(Attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR))
            .map(|(major, minor)| format!("{major}.{minor}"));
        DeviceInfo {
            id: format!("cuda:{}", context.ordinal()),
            name: context.name().unwrap_or_else(|e| format!("unnamed GPU ({e})")),
            memory_gib: context
                .total_mem()
                .ok()
                .map(|bytes| bytes as f64 / f64::from(1u32 << 30)),
            compute_capability: capability,
        }
    }
}

//! Record encodings: JSON for records, a length-prefixed JSON header plus the image bytes for
//! results.

use headshot_models::Output;

use super::StoreError;

pub(super) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise")
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct OutputHeader {
    file_name: String,
    mime: String,
    framing: headshot_models::Framing,
    variant: u32,
    width: u32,
    height: u32,
    #[serde(default)]
    checks: Vec<headshot_models::Check>,
}

pub(super) fn encode_output(o: &Output) -> Vec<u8> {
    let header = encode(&OutputHeader {
        file_name: o.file_name.clone(),
        mime: o.mime.clone(),
        framing: o.framing,
        variant: o.variant,
        width: o.width,
        height: o.height,
        checks: o.checks.clone(),
    });
    let mut out = Vec::with_capacity(4 + header.len() + o.bytes.len());
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&o.bytes);
    out
}

pub(super) fn decode_output(bytes: &[u8]) -> Result<Output, StoreError> {
    let corrupt = || StoreError::Corrupt("result record".into());
    let len = u32::from_be_bytes(
        bytes
            .get(..4)
            .ok_or_else(corrupt)?
            .try_into()
            .map_err(|_| corrupt())?,
    ) as usize;
    let header: OutputHeader = decode(bytes.get(4..4 + len).ok_or_else(corrupt)?)?;
    Ok(Output {
        file_name: header.file_name,
        mime: header.mime,
        bytes: bytes[4 + len..].to_vec(),
        framing: header.framing,
        variant: header.variant,
        width: header.width,
        height: header.height,
        checks: header.checks,
    })
}

//! Loading the weights: clear errors naming models/fetch.sh when files are
//! missing or corrupt.

use headshot_models::vision::{VisionError, Weights, WeightsFile};

#[test]
fn the_shipped_weights_load() {
    let weights = Weights::load_default().unwrap();
    assert!(weights.dir().ends_with("weights"));
}

#[test]
fn a_missing_directory_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let err = Weights::load(dir.path()).unwrap_err();
    assert!(matches!(err, VisionError::WeightsMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("models/fetch.sh"), "{err}");
}

#[test]
fn a_truncated_file_is_reported_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    for file in WeightsFile::ALL {
        let bytes = std::fs::read(Weights::default_dir().join(file.file_name())).unwrap();
        let keep = if file == WeightsFile::RetinaFace {
            bytes.len() / 2
        } else {
            bytes.len()
        };
        std::fs::write(dir.path().join(file.file_name()), &bytes[..keep]).unwrap();
    }
    let err = Weights::load(dir.path()).unwrap_err();
    match &err {
        VisionError::WeightsCorrupt { path, .. } => {
            assert!(path.ends_with(WeightsFile::RetinaFace.file_name()))
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("models/fetch.sh"), "{err}");
}

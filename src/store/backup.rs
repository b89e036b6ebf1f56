//! The backup file: a magic line, the schema version, then each tree as its name, its record
//! count and length-prefixed keys and values. Written under the exclusive side of the gate, so
//! it is consistent across trees while the service runs.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use super::{BACKUP_MAGIC, SCHEMA_VERSION, Store, StoreError, TREES};

impl Store {
    /// Writes a consistent copy of every tree to `path`.
    pub fn backup(&self, path: &Path) -> Result<u64, StoreError> {
        let _g = self.exclusive();
        let mut out = BufWriter::new(File::create(path)?);
        out.write_all(BACKUP_MAGIC)?;
        out.write_all(&SCHEMA_VERSION.to_be_bytes())?;
        let mut count = 0u64;
        for (name, tree) in TREES
            .iter()
            .zip(self.user_trees())
            .chain([(&"meta", self.meta.clone())])
        {
            write_chunk(&mut out, name.as_bytes())?;
            out.write_all(&(tree.len() as u64).to_be_bytes())?;
            for kv in tree.iter() {
                let (k, v) = kv?;
                write_chunk(&mut out, &k)?;
                write_chunk(&mut out, &v)?;
                count += 1;
            }
        }
        out.flush()?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(count)
    }

    /// Replaces the content of this store with a backup. Returns the number of records.
    pub fn restore(&self, path: &Path) -> Result<u64, StoreError> {
        let mut input = BufReader::new(File::open(path)?);
        let mut magic = [0u8; BACKUP_MAGIC.len()];
        input.read_exact(&mut magic).map_err(|_| StoreError::BadBackup)?;
        if magic != BACKUP_MAGIC {
            return Err(StoreError::BadBackup);
        }
        let version = read_u32(&mut input)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let _g = self.exclusive();
        let mut batches = Vec::new();
        let mut count = 0;
        // Trees follow one another to the end of the file; a backup made before a tree existed
        // (the `chats` tree came later) restores with that tree empty.
        while !input.fill_buf()?.is_empty() {
            if batches.len() > TREES.len() {
                return Err(StoreError::BadBackup);
            }
            let name = String::from_utf8(read_chunk(&mut input)?).map_err(|_| StoreError::BadBackup)?;
            if name != "meta" && !TREES.contains(&name.as_str()) {
                return Err(StoreError::BadBackup);
            }
            let n = read_u64(&mut input)?;
            let mut batch = Vec::new();
            for _ in 0..n {
                batch.push((read_chunk(&mut input)?, read_chunk(&mut input)?));
            }
            count += n;
            batches.push((name, batch));
        }
        for tree in self.user_trees().iter().chain([&self.meta]) {
            tree.clear()?;
        }
        for (name, batch) in batches {
            let tree = self.db.open_tree(&name)?;
            for (k, v) in batch {
                tree.insert(k, v)?;
            }
        }
        self.db.flush()?;
        drop(_g);
        self.migrate()?;
        Ok(count)
    }
}

fn write_chunk(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(&(bytes.len() as u64).to_be_bytes())?;
    out.write_all(bytes)
}

fn read_u32(input: &mut impl Read) -> Result<u32, StoreError> {
    let mut b = [0u8; 4];
    input.read_exact(&mut b).map_err(|_| StoreError::BadBackup)?;
    Ok(u32::from_be_bytes(b))
}

fn read_u64(input: &mut impl Read) -> Result<u64, StoreError> {
    let mut b = [0u8; 8];
    input.read_exact(&mut b).map_err(|_| StoreError::BadBackup)?;
    Ok(u64::from_be_bytes(b))
}

fn read_chunk(input: &mut impl Read) -> Result<Vec<u8>, StoreError> {
    let len = read_u64(input)?;
    if len > 1 << 32 {
        return Err(StoreError::BadBackup);
    }
    let mut buf = vec![0u8; len as usize];
    input.read_exact(&mut buf).map_err(|_| StoreError::BadBackup)?;
    Ok(buf)
}

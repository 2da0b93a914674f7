//! Versioned schema: each backend has an ordered list of DDL scripts; script `i` brings the
//! schema to version `i + 1`. The applied version is kept in table `dm_schema`, and all pending
//! scripts run in one transaction.

use crate::Error;

/// The scripts still to run on a database at `current` (`None` = fresh).
///
/// # Errors
/// [`Error::Migration`] when the database is newer than this build.
pub(crate) fn pending(
    current: Option<i64>,
    scripts: &'static [&'static str],
) -> Result<Vec<(i64, &'static str)>, Error> {
    let current = current.unwrap_or(0);
    let known = i64::try_from(scripts.len()).unwrap_or(i64::MAX);
    if current > known {
        return Err(Error::Migration(format!(
            "database schema version {current} is newer than this build's {known}"
        )));
    }
    Ok(scripts
        .iter()
        .zip(1_i64..)
        .filter(|(_, v)| *v > current)
        .map(|(s, v)| (v, *s))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::pending;

    #[test]
    fn pending_scripts_by_version() {
        static S: [&str; 3] = ["a", "b", "c"];
        assert_eq!(pending(None, &S).unwrap().len(), 3);
        assert_eq!(pending(Some(2), &S).unwrap(), vec![(3, "c")]);
        assert!(pending(Some(3), &S).unwrap().is_empty());
        assert!(pending(Some(4), &S).is_err());
    }
}

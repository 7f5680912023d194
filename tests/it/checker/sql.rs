//! The SQL of reads, which every dialect here shares but for its placeholders,
//! and the schema's common pieces. Writes and transaction control are the drivers'.

use super::model::{GROUPS, KEYS, ReadShape, group_of};

/// A statement parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Int(i64),
    Text(String),
}

/// How a dialect writes the n-th (1-based) placeholder.
pub type Placeholder = fn(usize) -> String;

pub fn dollar(n: usize) -> String {
    format!("${n}")
}

pub fn question(_: usize) -> String {
    "?".to_string()
}

/// The read as text with literals inlined.
pub fn read_text(shape: ReadShape) -> String {
    let (sql, params) = read_prepared(shape, |n| format!("\u{0}{n}"));
    let mut out = sql;
    for (i, p) in params.iter().enumerate().rev() {
        let lit = match p {
            Param::Int(v) => v.to_string(),
            Param::Text(t) => format!("'{t}'"),
        };
        out = out.replace(&format!("\u{0}{}", i + 1), &lit);
    }
    out
}

/// The table that holds `key`: one per group, so a write leaves the cached reads
/// of the other tables alone.
pub fn table(key: i64) -> String {
    format!("kv_{}", group_of(key))
}

/// The schema's tables of rows and the view over all of them, in portable SQL
/// (`engine_suffix` ends each CREATE TABLE, e.g. ` ENGINE=InnoDB`).
pub fn kv_tables(engine_suffix: &str) -> String {
    let mut out = String::new();
    let mut selects = Vec::new();
    for g in 0..GROUPS {
        out.push_str(&format!(
            "CREATE TABLE kv_{g} (id int PRIMARY KEY, grp int NOT NULL, ver bigint NOT NULL){engine_suffix};\n"
        ));
        selects.push(format!("SELECT id, grp, ver FROM kv_{g}"));
    }
    out.push_str(&format!(
        "CREATE VIEW kv_view AS {};\n",
        selects.join(" UNION ALL ")
    ));
    out
}

/// The read with placeholders, and its parameters.
pub fn read_prepared(shape: ReadShape, ph: Placeholder) -> (String, Vec<Param>) {
    let (p1, p2) = (ph(1), ph(2));
    let t = match shape {
        ReadShape::Point(k) | ReadShape::Range(k, _) => table(k),
        ReadShape::Group(g) | ReadShape::Join(g) | ReadShape::Aggregate(g) | ReadShape::View(g) => {
            table(g)
        }
    };
    match shape {
        ReadShape::Point(k) => (
            format!("SELECT id, ver FROM {t} WHERE id = {p1}"),
            vec![Param::Int(k)],
        ),
        ReadShape::Range(a, b) => (
            format!("SELECT id, ver FROM {t} WHERE id BETWEEN {p1} AND {p2} ORDER BY id"),
            vec![Param::Int(a), Param::Int(b)],
        ),
        ReadShape::Group(g) => (
            format!("SELECT id, ver FROM {t} WHERE grp = {p1} ORDER BY id"),
            vec![Param::Int(g)],
        ),
        ReadShape::Join(g) => (
            format!(
                "SELECT kv.id, kv.ver FROM {t} kv JOIN grps ON grps.grp = kv.grp WHERE grps.name = {p1} ORDER BY kv.id"
            ),
            vec![Param::Text(format!("g{g}"))],
        ),
        ReadShape::Aggregate(g) => (
            format!("SELECT id, max(ver) FROM {t} WHERE grp = {p1} GROUP BY id ORDER BY id"),
            vec![Param::Int(g)],
        ),
        ReadShape::View(g) => (
            format!("SELECT id, ver FROM kv_view WHERE grp = {p1} ORDER BY id"),
            vec![Param::Int(g)],
        ),
    }
}

/// Shows a prepared statement with its parameters, for histories.
pub fn show_prepared(sql: &str, params: &[Param]) -> String {
    let shown: Vec<String> = params
        .iter()
        .map(|p| match p {
            Param::Int(v) => v.to_string(),
            Param::Text(t) => format!("'{t}'"),
        })
        .collect();
    format!("{sql} /* prepared; params: {} */", shown.join(", "))
}

/// Rows of the static tables and the initial data: `(statements)` after the
/// schema, the same in every dialect. Keys divisible by 3 start absent.
pub fn seed_data() -> String {
    let seqs: Vec<String> = (1..=KEYS).map(|k| format!("({k}, 1)")).collect();
    let grps: Vec<String> = (0..GROUPS).map(|g| format!("({g}, 'g{g}')")).collect();
    let mut out = format!(
        "INSERT INTO seqs (id, ver) VALUES {};\nINSERT INTO grps (grp, name) VALUES {};\n",
        seqs.join(", "),
        grps.join(", ")
    );
    for k in (1..=KEYS).filter(|k| k % 3 != 0) {
        out.push_str(&format!(
            "INSERT INTO {} (id, grp, ver) VALUES ({k}, {}, 1);\n",
            table(k),
            group_of(k)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_inlines_the_parameters() {
        assert_eq!(
            read_text(ReadShape::Range(3, 12)),
            "SELECT id, ver FROM kv_3 WHERE id BETWEEN 3 AND 12 ORDER BY id"
        );
        assert!(read_text(ReadShape::Join(2)).contains("grps.name = 'g2'"));
        assert_eq!(
            read_prepared(ReadShape::Point(4), question).0,
            "SELECT id, ver FROM kv_0 WHERE id = ?"
        );
    }
}

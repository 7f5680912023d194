#!/usr/bin/env python3
"""Deterministic generator of an "employees" data set shaped like the MySQL
employees sample database: employees, departments, dept_emp and salaries, with
the sample's proportions (about 300k employees, 9 departments, 1.1 department
assignments and 9.5 yearly salary rows per employee, so about 2.8M salaries).

Same seed, same sizes: byte-identical output. Python 3.11 standard library only.

  gen_employees.py ddl --dialect postgres|mariadb [--part schema|indexes|all]
  gen_employees.py data --out DIR [--employees N] [--seed S] [--format tsv|csv]
  gen_employees.py data --table salaries [...]          # one table to stdout

TSV is PostgreSQL's COPY text format (tab-separated, no quoting needed: every value
is a plain ASCII word, number or date) and also what MariaDB's LOAD DATA reads by
default. CSV uses commas, for `COPY … WITH (FORMAT csv)` / `FIELDS TERMINATED BY ','`.

Load, PostgreSQL:  psql -c "COPY salaries FROM STDIN" < DIR/salaries.tsv
Load, MariaDB:     LOAD DATA LOCAL INFILE 'DIR/salaries.tsv' INTO TABLE salaries;
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
from typing import Callable, TextIO

DEFAULT_EMPLOYEES = 300_024
DEFAULT_SEED = 20240101
FIRST_EMP_NO = 10001
TABLES = ("departments", "employees", "dept_emp", "salaries")

# The sample's nine departments, weighted by its dept_emp counts.
DEPARTMENTS = (
    ("d001", "Marketing", 20211),
    ("d002", "Finance", 17346),
    ("d003", "Human Resources", 17786),
    ("d004", "Production", 73485),
    ("d005", "Development", 85707),
    ("d006", "Quality Management", 20117),
    ("d007", "Sales", 52245),
    ("d008", "Research", 21126),
    ("d009", "Customer Service", 23580),
)

FIRST_NAMES = (
    "Georgi Bezalel Parto Chirstian Kyoichi Anneke Tzvetan Saniya Sumant Duangkaew "
    "Mary Patricio Eberhardt Berni Guoxiang Kazuhito Cristinel Kazuhide Lillian Mayuko "
    "Ramzi Shahaf Bojan Suzette Prasadram Yongqiao Divier Domenick Otmar Elvis Karsten "
    "Jeong Arif Bader Alain Adamantios Pradeep Huan Alejandro Weiyi Uri Magy Yishay "
    "Mingsen Moss Lucien Zvonko Florian Basil Yinghua Hidefumi Heping Sanjiv Mayumi "
    "Georgy Brendon Ebbe Berhard Breannda Tse Anoosh Gino Udi Satosi Kwee Claudi "
    "Charlene Margareta Reuven Hisao Hironoby Shir Mokhtar Gao Erez Mona Danel Kshitij "
    "Premal Zhongwei Parviz Vishv Tuval Kenroku Somnath Xinglin Jungsoon Sudharsan "
    "Kendra Amabile Valdiodio Sailaja Arumugam Hilari Jayson Remzi Sreekrishna Valter"
).split()
LAST_NAMES = (
    "Facello Simmel Bamford Koblick Maliniak Preusig Zielinski Kalloufi Peac Piveteau "
    "Sluis Bridgland Terkki Genin Nooteboom Cappelletti Bouloucos Peha Haddadi Warwick "
    "Erde Famili Montemayor Heyers Nitsch Herbst Demeyer Pettey Ranzi Reistad Tempesti "
    "Herber Baumann Gewali Lortz Chappelet Baek Lenart Stamatiou Anger Lindqvist "
    "Mandell Schusler Bernini Casley Heuter Cooley Waschkowski Kolvik Swan Kobara "
    "Nyanchama Pardalos Marletta Schueller Dredge Kroft Ghazalie Hartvigsen Hofting "
    "Tokunaga Riesenhuber Azumi Wuwongse Garigliano Bahr Decaestecker Falster Delgrande "
    "Aingworth Buchter Kambil Dalton Syrotiuk Kuzuoka Unni Dulli Velasco Gargeya "
    "Cusworth Kaiser Hofmeyr Zschoche Kroll Thebaut Masamoto Ullian Rosis Spelt Jansch"
).split()

BIRTH_FIRST = dt.date(1952, 2, 1).toordinal()
BIRTH_SPAN = dt.date(1965, 2, 1).toordinal() - BIRTH_FIRST
HIRE_FIRST = dt.date(1985, 1, 1).toordinal()
HIRE_SPAN = dt.date(2000, 1, 28).toordinal() - HIRE_FIRST
DATA_END = dt.date(2002, 8, 1).toordinal()
FOREVER = "9999-01-01"


def _date_text() -> Callable[[int], str]:
    """ISO date of an ordinal, from a table covering every date we generate."""
    first = BIRTH_FIRST
    table = [dt.date.fromordinal(o).isoformat() for o in range(first, DATA_END + 400)]
    return lambda ordinal: table[ordinal - first]


def _department_picker(rng: random.Random) -> Callable[[], int]:
    total = sum(w for _, _, w in DEPARTMENTS)
    cumulative, acc = [], 0
    for _, _, w in DEPARTMENTS:
        acc += w
        cumulative.append(acc / total)

    def pick() -> int:
        r = rng.random()
        for i, c in enumerate(cumulative):
            if r < c:
                return i
        return len(cumulative) - 1

    return pick


def generate(out: dict[str, TextIO], employees: int, seed: int, sep: str) -> dict[str, int]:
    """Writes every table whose name is in `out`; draws the same random numbers
    whatever is written, so each table is the same whether written alone or not.
    Returns the row count of each table."""
    rng = random.Random(seed)
    rand = rng.random
    date = _date_text()
    pick_dept = _department_picker(rng)
    counts = dict.fromkeys(TABLES, 0)
    w_dep, w_emp = out.get("departments"), out.get("employees")
    w_de, w_sal = out.get("dept_emp"), out.get("salaries")

    for no, name, _ in DEPARTMENTS:
        if w_dep:
            w_dep.write(f"{no}{sep}{name}\n")
        counts["departments"] += 1

    n_first, n_last = len(FIRST_NAMES), len(LAST_NAMES)
    for emp_no in range(FIRST_EMP_NO, FIRST_EMP_NO + employees):
        birth = BIRTH_FIRST + int(rand() * BIRTH_SPAN)
        hire = HIRE_FIRST + int(rand() * HIRE_SPAN)
        first = FIRST_NAMES[int(rand() * n_first)]
        last = LAST_NAMES[int(rand() * n_last)]
        gender = "M" if rand() < 0.6 else "F"
        # One salary row per year from hire to the end of the data (mean 9.5
        # rows); 10% left earlier, after a random number of those years.
        max_years = max(1, (DATA_END - hire) // 365)
        left = rand() < 0.1
        years = 1 + int(rand() * max_years) if left else max_years
        end = hire + years * 365
        moved = rand() < 0.1 and years > 1
        move_at = hire + (1 + int(rand() * (years - 1))) * 365 if moved else 0
        first_dept = pick_dept()
        second_dept = (first_dept + 1 + int(rand() * 8)) % len(DEPARTMENTS)
        salary = 40000 + int(rand() * 50000)
        if w_emp:
            w_emp.write(
                f"{emp_no}{sep}{date(birth)}{sep}{first}{sep}{last}{sep}{gender}{sep}{date(hire)}\n"
            )
        counts["employees"] += 1

        last_to = date(end) if left else FOREVER
        if moved:
            rows = [
                (DEPARTMENTS[first_dept][0], date(hire), date(move_at)),
                (DEPARTMENTS[second_dept][0], date(move_at), last_to),
            ]
            rows.sort()  # primary key order: (emp_no, dept_no)
        else:
            rows = [(DEPARTMENTS[first_dept][0], date(hire), last_to)]
        for dept_no, frm, to in rows:
            if w_de:
                w_de.write(f"{emp_no}{sep}{dept_no}{sep}{frm}{sep}{to}\n")
            counts["dept_emp"] += 1

        start = hire
        for y in range(years):
            stop = start + 365
            to = date(stop) if (y + 1 < years or left) else FOREVER
            if w_sal:
                w_sal.write(f"{emp_no}{sep}{salary}{sep}{date(start)}{sep}{to}\n")
            counts["salaries"] += 1
            salary += int(rand() * salary * 0.05)
            start = stop
    return counts


POSTGRES_SCHEMA = """\
DROP TABLE IF EXISTS salaries, dept_emp, departments, employees;
CREATE TABLE employees (
    emp_no      integer     NOT NULL,
    birth_date  date        NOT NULL,
    first_name  varchar(14) NOT NULL,
    last_name   varchar(16) NOT NULL,
    gender      char(1)     NOT NULL,
    hire_date   date        NOT NULL
);
CREATE TABLE departments (
    dept_no     char(4)     NOT NULL,
    dept_name   varchar(40) NOT NULL
);
CREATE TABLE dept_emp (
    emp_no      integer     NOT NULL,
    dept_no     char(4)     NOT NULL,
    from_date   date        NOT NULL,
    to_date     date        NOT NULL
);
CREATE TABLE salaries (
    emp_no      integer     NOT NULL,
    salary      integer     NOT NULL,
    from_date   date        NOT NULL,
    to_date     date        NOT NULL
);
"""

# Indexes after the load (faster than maintaining them row by row). No foreign
# keys: the benchmark only reads, and the sample's keys add nothing to that.
POSTGRES_INDEXES = """\
ALTER TABLE employees ADD PRIMARY KEY (emp_no);
ALTER TABLE departments ADD PRIMARY KEY (dept_no);
ALTER TABLE departments ADD UNIQUE (dept_name);
ALTER TABLE dept_emp ADD PRIMARY KEY (emp_no, dept_no);
CREATE INDEX dept_emp_dept_no ON dept_emp (dept_no);
ALTER TABLE salaries ADD PRIMARY KEY (emp_no, from_date);
VACUUM ANALYZE employees, departments, dept_emp, salaries;
"""

# InnoDB clusters rows by primary key, and the data comes in key order: keep the
# keys in the schema. The secondary index comes after the load.
MARIADB_SCHEMA = """\
DROP TABLE IF EXISTS salaries, dept_emp, departments, employees;
CREATE TABLE employees (
    emp_no      INT         NOT NULL,
    birth_date  DATE        NOT NULL,
    first_name  VARCHAR(14) NOT NULL,
    last_name   VARCHAR(16) NOT NULL,
    gender      ENUM('M','F') NOT NULL,
    hire_date   DATE        NOT NULL,
    PRIMARY KEY (emp_no)
) ENGINE=InnoDB;
CREATE TABLE departments (
    dept_no     CHAR(4)     NOT NULL,
    dept_name   VARCHAR(40) NOT NULL,
    PRIMARY KEY (dept_no),
    UNIQUE KEY (dept_name)
) ENGINE=InnoDB;
CREATE TABLE dept_emp (
    emp_no      INT         NOT NULL,
    dept_no     CHAR(4)     NOT NULL,
    from_date   DATE        NOT NULL,
    to_date     DATE        NOT NULL,
    PRIMARY KEY (emp_no, dept_no)
) ENGINE=InnoDB;
CREATE TABLE salaries (
    emp_no      INT         NOT NULL,
    salary      INT         NOT NULL,
    from_date   DATE        NOT NULL,
    to_date     DATE        NOT NULL,
    PRIMARY KEY (emp_no, from_date)
) ENGINE=InnoDB;
"""

MARIADB_INDEXES = """\
CREATE INDEX dept_emp_dept_no ON dept_emp (dept_no);
ANALYZE TABLE employees, departments, dept_emp, salaries;
"""

DDL = {
    ("postgres", "schema"): POSTGRES_SCHEMA,
    ("postgres", "indexes"): POSTGRES_INDEXES,
    ("mariadb", "schema"): MARIADB_SCHEMA,
    ("mariadb", "indexes"): MARIADB_INDEXES,
}


def cmd_ddl(args: argparse.Namespace) -> int:
    parts = ("schema", "indexes") if args.part == "all" else (args.part,)
    for part in parts:
        sys.stdout.write(DDL[(args.dialect, part)])
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    if args.employees < 1:
        print("gen_employees: --employees must be at least 1", file=sys.stderr)
        return 64
    sep = "\t" if args.format == "tsv" else ","
    if args.table:
        counts = generate({args.table: sys.stdout}, args.employees, args.seed, sep)
        print(f"gen_employees: {args.table}: {counts[args.table]} rows", file=sys.stderr)
        return 0
    if not args.out:
        print("gen_employees: give --out DIR or --table NAME", file=sys.stderr)
        return 64
    os.makedirs(args.out, exist_ok=True)
    files = {t: open(os.path.join(args.out, f"{t}.{args.format}"), "w", encoding="ascii",
                     newline="\n", buffering=1 << 20) for t in TABLES}
    try:
        counts = generate(files, args.employees, args.seed, sep)
    finally:
        for f in files.values():
            f.close()
    summary = ", ".join(f"{t} {counts[t]}" for t in TABLES)
    print(f"gen_employees: wrote {args.out}: {summary}", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    ddl = sub.add_parser("ddl", help="print the DDL of one dialect")
    ddl.add_argument("--dialect", choices=("postgres", "mariadb"), required=True)
    ddl.add_argument("--part", choices=("schema", "indexes", "all"), default="all")
    data = sub.add_parser("data", help="write the rows")
    data.add_argument("--out", help="directory for <table>.<format> files")
    data.add_argument("--table", choices=TABLES, help="write only this table, to stdout")
    data.add_argument("--employees", type=int, default=DEFAULT_EMPLOYEES)
    data.add_argument("--seed", type=int, default=DEFAULT_SEED)
    data.add_argument("--format", choices=("tsv", "csv"), default="tsv")
    args = p.parse_args(argv)
    return cmd_ddl(args) if args.cmd == "ddl" else cmd_data(args)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        sys.exit(141)

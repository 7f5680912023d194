-- Sample data for docker/compose.yml (MariaDB): the employees shape of the
-- benchmark (scripts/bench/gen_employees.py), small and generated in place with
-- MariaDB's sequence tables (seq_1_to_N).
USE shop;
CREATE TABLE departments (dept_no char(4) PRIMARY KEY, dept_name varchar(40) NOT NULL);
CREATE TABLE employees (
    emp_no int PRIMARY KEY, birth_date date NOT NULL, first_name varchar(14) NOT NULL,
    last_name varchar(16) NOT NULL, gender char(1) NOT NULL, hire_date date NOT NULL);
CREATE TABLE dept_emp (
    emp_no int, dept_no char(4), from_date date NOT NULL, to_date date NOT NULL,
    PRIMARY KEY (emp_no, dept_no),
    FOREIGN KEY (emp_no) REFERENCES employees (emp_no),
    FOREIGN KEY (dept_no) REFERENCES departments (dept_no));
CREATE TABLE salaries (
    emp_no int, salary int NOT NULL, from_date date NOT NULL, to_date date NOT NULL,
    PRIMARY KEY (emp_no, from_date),
    FOREIGN KEY (emp_no) REFERENCES employees (emp_no));

INSERT INTO departments
SELECT CONCAT('d', LPAD(seq, 3, '0')), ELT(seq, 'Marketing', 'Finance', 'Human Resources',
       'Production', 'Development', 'Quality Management', 'Sales', 'Research',
       'Customer Service')
FROM seq_1_to_9;

INSERT INTO employees
SELECT seq, DATE '1955-01-01' + INTERVAL (seq * 37) % 3650 DAY, CONCAT('First', seq % 500),
       CONCAT('Last', seq % 1000), IF(seq % 2 = 0, 'M', 'F'),
       DATE '1985-01-01' + INTERVAL (seq * 13) % 5000 DAY
FROM seq_10001_to_12000;

INSERT INTO dept_emp
SELECT emp_no, CONCAT('d', LPAD(1 + emp_no % 9, 3, '0')), hire_date, DATE '9999-01-01'
FROM employees;

INSERT INTO salaries
SELECT e.emp_no, 40000 + (e.emp_no * 7919 + y.seq * 104729) % 60000,
       e.hire_date + INTERVAL y.seq * 365 DAY, e.hire_date + INTERVAL (y.seq + 1) * 365 DAY
FROM employees e, seq_0_to_9 y;

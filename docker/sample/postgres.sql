-- Sample data for docker/compose.yml (PostgreSQL): the employees shape of the
-- benchmark (scripts/bench/gen_employees.py), small and generated in place.
CREATE TABLE departments (dept_no char(4) PRIMARY KEY, dept_name text NOT NULL);
CREATE TABLE employees (
    emp_no int PRIMARY KEY, birth_date date NOT NULL, first_name text NOT NULL,
    last_name text NOT NULL, gender char(1) NOT NULL, hire_date date NOT NULL);
CREATE TABLE dept_emp (
    emp_no int REFERENCES employees, dept_no char(4) REFERENCES departments,
    from_date date NOT NULL, to_date date NOT NULL, PRIMARY KEY (emp_no, dept_no));
CREATE TABLE salaries (
    emp_no int REFERENCES employees, salary int NOT NULL, from_date date NOT NULL,
    to_date date NOT NULL, PRIMARY KEY (emp_no, from_date));

INSERT INTO departments
SELECT 'd' || lpad(g::text, 3, '0'), (ARRAY['Marketing', 'Finance', 'Human Resources',
       'Production', 'Development', 'Quality Management', 'Sales', 'Research',
       'Customer Service'])[g]
FROM generate_series(1, 9) g;

INSERT INTO employees
SELECT g, date '1955-01-01' + (g * 37) % 3650, 'First' || g % 500, 'Last' || g % 1000,
       CASE WHEN g % 2 = 0 THEN 'M' ELSE 'F' END, date '1985-01-01' + (g * 13) % 5000
FROM generate_series(10001, 12000) g;

INSERT INTO dept_emp
SELECT emp_no, 'd' || lpad((1 + emp_no % 9)::text, 3, '0'), hire_date, date '9999-01-01'
FROM employees;

INSERT INTO salaries
SELECT e.emp_no, 40000 + (e.emp_no * 7919 + y * 104729) % 60000,
       e.hire_date + y * 365, e.hire_date + (y + 1) * 365
FROM employees e, generate_series(0, 9) y;

CREATE TABLE t(id INTEGER, name TEXT, r REAL);
INSERT INTO t VALUES(1,'a,b',1.0),(22,'say "hi"',NULL),(3,NULL,0.5),(-4,'x y',0.25),(5,'',100.0),(6,'it''s',-2.0);

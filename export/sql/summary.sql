-- The core numbers of `auditq summary`, over auditq's Parquet export, in
-- DuckDB SQL (Trino/Athena and Spark differ only in function names:
-- arg_min is min_by, list functions are array ones).
-- Set the source first, e.g.:
--   CREATE VIEW audit AS SELECT * FROM read_parquet('DIR/**/*.parquet', hive_partitioning = true);
--
-- Events count every row; a request is an auditID, counted once, with
-- the values of its first event (its earliest stage); its code is the
-- first response status it logged; a denial is a request with any event
-- whose authorization.k8s.io/decision is forbid. Latency is
-- stageTimestamp - requestReceivedTimestamp of each ResponseComplete event,
-- long-running requests left out (watch; exec, attach, portforward, proxy
-- and log); auditq's histogram gives the same percentiles within 2%.

-- name: totals
SELECT count(*) AS events, count(DISTINCT auditID) AS requests FROM audit;

-- name: stages
SELECT stage AS key, count(*) AS count FROM audit GROUP BY 1;

-- name: levels
SELECT level AS key, count(*) AS count FROM audit GROUP BY 1;

-- name: requests
CREATE OR REPLACE TEMP VIEW requests AS
SELECT auditID,
       arg_min(verb, stageTimestamp) AS verb,
       arg_min(user.username, stageTimestamp) AS username,
       arg_min(objectRef, stageTimestamp) AS ref,
       arg_min(responseStatus.code, stageTimestamp) FILTER (WHERE responseStatus IS NOT NULL) AS code,
       bool_or(annotations['authorization.k8s.io/decision'] = 'forbid') AS denied
FROM audit GROUP BY auditID;

-- name: verbs
SELECT verb AS key, count(*) AS count FROM requests GROUP BY 1;

-- name: codes
SELECT code::VARCHAR AS key, count(*) AS count FROM requests WHERE code IS NOT NULL GROUP BY 1;

-- name: codeClasses
SELECT CASE WHEN code BETWEEN 100 AND 999 THEN (code // 100)::VARCHAR || 'xx' ELSE 'other' END AS key, count(*) AS count
FROM requests WHERE code IS NOT NULL GROUP BY 1;

-- name: users
SELECT username AS key, count(*) AS count FROM requests GROUP BY 1;

-- name: serviceAccounts
SELECT substr(username, length('system:serviceaccount:') + 1) AS key, count(*) AS count
FROM requests WHERE starts_with(username, 'system:serviceaccount:') GROUP BY 1;

-- name: namespaces
SELECT ref.namespace AS key, count(*) AS count FROM requests WHERE ref IS NOT NULL AND coalesce(ref.namespace, '') <> '' GROUP BY 1;

-- name: resources
SELECT ref.resource || CASE WHEN coalesce(ref.apiGroup, '') <> '' THEN '.' || ref.apiGroup ELSE '' END
       || CASE WHEN coalesce(ref.subresource, '') <> '' THEN '/' || ref.subresource ELSE '' END AS key,
       count(*) AS count
FROM requests WHERE ref IS NOT NULL GROUP BY 1;

-- name: failures
SELECT count(*) AS requests FROM requests WHERE code >= 400;

-- name: denials
SELECT count(*) AS requests FROM requests WHERE denied;

-- name: latencies
CREATE OR REPLACE TEMP VIEW latencies AS
SELECT verb, (epoch_us(stageTimestamp) - epoch_us(requestReceivedTimestamp)) / 1000.0 AS ms
FROM audit
WHERE stage = 'ResponseComplete' AND verb <> 'watch'
  AND coalesce(objectRef.subresource, '') NOT IN ('exec', 'attach', 'portforward', 'proxy', 'log')
  AND stageTimestamp >= requestReceivedTimestamp;

-- name: latency
SELECT count(*) AS requests, quantile_disc(ms, 0.5) AS p50ms, quantile_disc(ms, 0.9) AS p90ms,
       quantile_disc(ms, 0.99) AS p99ms, max(ms) AS maxms
FROM latencies;

-- name: latencyByVerb
SELECT verb, count(*) AS requests, quantile_disc(ms, 0.5) AS p50ms, quantile_disc(ms, 0.9) AS p90ms,
       quantile_disc(ms, 0.99) AS p99ms, max(ms) AS maxms
FROM latencies GROUP BY verb;

-- How severe each hook's failures were in the last 30 days: per hook and severity level, the failed rules
-- and controls (annotations) and the distinct invocations they failed, most severe first.
SELECT type_name,
       severity_level,
       count(*) AS failures,
       count(DISTINCT hook_result_id) AS failed_invocations
FROM hook_annotations
WHERE dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
  AND status = 'FAILED'
GROUP BY type_name, severity_level
ORDER BY type_name,
         CASE severity_level
             WHEN 'CRITICAL' THEN 1
             WHEN 'HIGH' THEN 2
             WHEN 'MEDIUM' THEN 3
             WHEN 'LOW' THEN 4
             WHEN 'INFORMATIONAL' THEN 5
             ELSE 6
         END,
         severity_level

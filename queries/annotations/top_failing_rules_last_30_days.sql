-- The rules and controls that failed most in the last 30 days, with their severity and remediation
-- (hook_annotations: one row per annotation of every enriched failed invocation).
SELECT type_name,
       annotation_name,
       severity_level,
       count(*) AS failures,
       remediation_message,
       remediation_link
FROM hook_annotations
WHERE dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
  AND status = 'FAILED'
GROUP BY type_name, annotation_name, severity_level, remediation_message, remediation_link
ORDER BY failures DESC, type_name, annotation_name, severity_level, remediation_message, remediation_link
LIMIT 20

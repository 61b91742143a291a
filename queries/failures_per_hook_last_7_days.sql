-- Failed invocations per hook over the last 7 days (partition pruning on dt keeps the scan small).
SELECT type_name,
       failure_mode,
       count(*) AS failures
FROM hook_results
WHERE dt >= date_format(current_date - INTERVAL '7' DAY, '%Y-%m-%d')
  AND status IN ('HOOK_COMPLETE_FAILED', 'HOOK_FAILED')
GROUP BY type_name, failure_mode
ORDER BY failures DESC, type_name

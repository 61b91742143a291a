-- Failures of hooks in WARN mode over the last 30 days: the deployments went ahead with a warning.
-- Read it as what switching each hook to FAIL would have blocked.
SELECT type_name,
       count(*) AS warnings,
       count_if(status = 'HOOK_FAILED') AS hook_errors,
       count(DISTINCT coalesce(hook_execution_target, target_id)) AS targets,
       max(invoked_at) AS last_warning_at
FROM hook_results
WHERE dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
  AND failure_mode = 'WARN'
  AND status IN ('HOOK_COMPLETE_FAILED', 'HOOK_FAILED')
GROUP BY type_name
ORDER BY warnings DESC, type_name

-- The stacks, change sets and Cloud Control requests that fail hooks most often in the last 30 days.
SELECT target_type,
       coalesce(hook_execution_target, target_id) AS target,
       count(*) AS failures,
       count(DISTINCT type_name) AS hooks
FROM hook_results
WHERE dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
  AND status IN ('HOOK_COMPLETE_FAILED', 'HOOK_FAILED')
GROUP BY target_type, coalesce(hook_execution_target, target_id)
ORDER BY failures DESC, target, target_type
LIMIT 10

-- The latest invocation of every hook seen in the last 30 days: its status, when, and on what.
SELECT type_name,
       status AS latest_status,
       failure_mode,
       invoked_at AS latest_invoked_at,
       target_type,
       coalesce(hook_execution_target, target_id) AS target,
       hook_status_reason
FROM (
    SELECT *,
           row_number() OVER (
               PARTITION BY type_name ORDER BY invoked_at DESC NULLS LAST, hook_result_id DESC
           ) AS recency
    FROM hook_results
    WHERE dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
) AS ranked
WHERE recency = 1
ORDER BY type_name

-- Daily failures and failure rate per hook over the last 14 days.
SELECT dt,
       type_name,
       count_if(status IN ('HOOK_COMPLETE_FAILED', 'HOOK_FAILED')) AS failures,
       count(*) AS invocations,
       round(100.0 * count_if(status IN ('HOOK_COMPLETE_FAILED', 'HOOK_FAILED')) / count(*), 1) AS failure_pct
FROM hook_results
WHERE dt >= date_format(current_date - INTERVAL '14' DAY, '%Y-%m-%d')
GROUP BY dt, type_name
ORDER BY dt DESC, type_name

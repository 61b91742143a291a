-- Every account and region in the archive over the last 7 days: how many invocations, how many failed, and
-- the latest one seen. In a central archive, an account-region missing here archived nothing this week.
SELECT account_id,
       region,
       count(*) AS invocations,
       count_if(status IN ('HOOK_COMPLETE_FAILED', 'HOOK_FAILED')) AS failures,
       max(invoked_at) AS latest_invoked_at
FROM hook_results
WHERE dt >= date_format(current_date - INTERVAL '7' DAY, '%Y-%m-%d')
GROUP BY account_id, region
ORDER BY account_id, region

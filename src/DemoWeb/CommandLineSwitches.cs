namespace DemoWeb;

/// <summary>
/// Lets the on/off switches stand alone (`--https`, `--inline`, `--echo-upper`, `--dashboard-hub`). ASP.NET Core's
/// command-line configuration wants a value after every key, so a bare `--https --urls …` would read
/// "--urls" as the value of https; here a bare switch gets an explicit "true" first.
/// </summary>
public static class CommandLineSwitches
{
    private static readonly string[] Flags = ["https", "inline", "echo-upper", "dashboard-hub"];

    public static string[] Normalize(string[] args)
    {
        var normalized = new List<string>(args.Length + Flags.Length);
        for (int i = 0; i < args.Length; i++)
        {
            normalized.Add(args[i]);
            bool hasValue = i + 1 < args.Length && !args[i + 1].StartsWith('-');
            if (IsFlag(args[i]) && !hasValue)
            {
                normalized.Add("true");
            }
        }
        return normalized.ToArray();
    }

    private static bool IsFlag(string arg)
    {
        // Only the "--name" form without "=value"; "--https=false" and "--https false" are left alone.
        if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Contains('='))
        {
            return false;
        }
        string name = arg[2..];
        return Flags.Any(flag => string.Equals(flag, name, StringComparison.OrdinalIgnoreCase));
    }
}

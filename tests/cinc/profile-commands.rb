# Runs a profile's control files the way InSpec would, with every resource
# kscan's profiles use stubbed: what the profile asks of the target (a
# command line, whether a path exists, a file's content) is looked up in
# the answers given, and every question asked is printed, so that a caller
# can answer them from a real container and run this again until no new
# question comes. The command lines are exactly the strings the profile
# hands to InSpec's `command` resource (which runs them with `sh -c`).
#
#   ruby profile-commands.rb PROFILE_DIR [ANSWERS.json]   -> JSON array of questions
#
# A question is "command:LINE", "exist:PATH", "directory:PATH",
# "symlink:PATH" or "content:PATH"; ANSWERS maps questions to their answer
# (stdout for a command, true/false, or the content; null: unreadable).

require 'json'
require 'yaml'

profile = ARGV.fetch(0)
ANSWERS = ARGV[1] ? JSON.parse(File.read(ARGV[1])) : {}
QUESTIONS = []
INPUTS = (YAML.safe_load(File.read(File.join(profile, 'inspec.yml')))['inputs'] || [])
         .to_h { |i| [i['name'], i['value']] }

def ask(question, default)
  QUESTIONS << question unless QUESTIONS.include?(question)
  ANSWERS.key?(question) ? ANSWERS[question] : default
end

# InSpec's `command(...)`: its stdout.
class Cmd
  def initialize(line)
    @line = line
  end

  def stdout
    ask("command:#{@line}", '').to_s
  end

  def exit_status
    0
  end
end

# InSpec's `file(...)` / `directory(...)`.
class Path
  def initialize(path, kind = 'exist')
    @path = path
    @kind = kind
  end

  def exist?
    ask("#{@kind}:#{@path}", false) == true
  end

  def symlink?
    ask("symlink:#{@path}", false) == true
  end

  def content
    ask("content:#{@path}", nil)
  end

  def method_missing(*)
    nil
  end

  def respond_to_missing?(*)
    true
  end
end

# Whatever a describe, its matchers or a table resource (passwd, shadow) are
# asked: nothing that issues a command.
class Anything
  def method_missing(*)
    self
  end

  def respond_to_missing?(*)
    true
  end
end

# The DSL of control files, at the top level and inside controls.
module Dsl
  def input(name)
    INPUTS.fetch(name)
  end

  def command(line)
    Cmd.new(line)
  end

  def file(path)
    Path.new(path)
  end

  def directory(path)
    Path.new(path, 'directory')
  end

  def passwd
    Anything.new
  end

  def shadow
    Anything.new
  end

  def control(_id, &block)
    Control.new.instance_eval(&block)
  end
end

# A describe block: its subject runs (it may issue commands); its `it`
# and `its` blocks only match.
class Describe
  include Dsl

  def subject(&block)
    block.call
  end

  def it(*); end

  def its(*); end
end

# One control's body.
class Control
  include Dsl

  def impact(*); end

  def title(*); end

  def desc(*); end

  def tag(*); end

  def only_if(*); end

  def describe(*, &block)
    Describe.new.instance_eval(&block) if block
  end
end

include Dsl
Dir[File.join(profile, 'controls', '*.rb')].sort.each do |f|
  eval(File.read(f), binding, f) # rubocop:disable Security/Eval
end
puts JSON.generate(QUESTIONS)
